"""``/api/session``: log in and out with user id and password (the same session as the UI)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import session
from marshmallow import fields
from werkzeug.exceptions import Unauthorized

from ebr.api.common import blueprint, execution, services, work
from ebr.api.schemas import Strict
from ebr.web import access
from signatures.errors import AuthenticationFailed


class LoginIn(Strict):
    user_id = fields.String(required=True)
    password = fields.String(required=True, load_only=True)


class UserOut(ma.Schema):
    user_id = fields.String()
    full_name = fields.String()
    roles = fields.List(fields.String())


blp = blueprint("api_session", "/api/session", "Log in and out")


def _user(user: Any) -> dict[str, Any]:
    return {"user_id": user.user_id, "full_name": user.full_name, "roles": [str(r) for r in user.roles]}


@blp.route("", methods=["POST"])
@access.public
@blp.doc(security=[])  # no session needed to start one
@blp.arguments(LoginIn)
@blp.response(200, UserOut)
def login(data: dict[str, Any]) -> dict[str, Any]:
    """Log in; the session cookie then authenticates every API call.

    An unknown user id, a wrong password and a locked account get the same 401 and
    message; too many failures from one client or for one id get 429 with Retry-After.
    """
    svc = services()
    try:
        with work() as db:
            user = svc.users.authenticate(db, data["user_id"].strip().lower(), data["password"])
            token = svc.users.sessions.start(db, user_id=user.user_id)
    except AuthenticationFailed as exc:
        raise Unauthorized(exc.message) from None
    session.clear()
    session[access.SESSION_KEY] = token
    return _user(user)


@blp.route("", methods=["GET"])
@access.requires("batch.view")
@blp.response(200, UserOut)
def me() -> dict[str, Any]:
    """Who is signed in."""
    return _user(access.current_user())


@blp.route("", methods=["DELETE"])
@access.public
@blp.doc(security=[])  # ending a session that is already gone is not an error
@blp.response(204)
def logout() -> None:
    """End the session."""
    svc = services()
    with work() as db:
        svc.users.sessions.end(db, session.get(access.SESSION_KEY))
    session.clear()


__all__ = ["blp", "execution"]
