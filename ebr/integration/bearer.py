"""``Authorization: Bearer <token>`` on the JSON API: an API token in place of a session.

Runs before every request under ``/api/`` (but the integration channels, which check
their own channel tokens). The view's action (``ebr.web.access.requires``) must be one
of the token's scopes and still allowed to its owner; the request then runs as the
owner, so the view's own permission check and the services' audit see a person. A
request that carries a password (a signature, a log-in) is refused on a token: a token
never signs. A refused use of a known token is audited.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import current_app, g, request
from flask.typing import ResponseReturnValue

from ebr.core.db import unit_of_work
from ebr.integration import tokens
from ebr.web import access, errors
from ebr.web.helpers import services

CHANNELS = "/api/integration/"


def bearer() -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _carries_password(value: Any, depth: int = 0) -> bool:
    if isinstance(value, dict):
        return "password" in value or (depth < 3 and any(_carries_password(v, depth + 1) for v in value.values()))
    if isinstance(value, list) and depth < 3:
        return any(_carries_password(v, depth + 1) for v in value)
    return False


def resolve() -> ResponseReturnValue | None:
    """Authenticate an API token for this request, or answer 401/403 (``before_app_request``)."""
    if not request.path.startswith("/api/") or request.path.startswith(CHANNELS):
        return None
    token = bearer()
    if token is None:
        return None
    view = current_app.view_functions.get(request.endpoint or "")
    action = getattr(view, access.ACTION_ATTR, None)
    if action is None or action == access.PUBLIC:
        return None  # the OpenAPI document, log-in: nothing a token grants
    if _carries_password(request.get_json(silent=True)) or request.form.get("password") is not None:
        message = "an API token can never sign or log in: an e-signature needs a person with user id and password"
        return errors.json_error("TokenCannotSign", message, 403)
    svc = services()
    try:
        with unit_of_work(svc.session_factory) as session:
            row, person = tokens.authenticate_api(
                session, clock=svc.clock, users=svc.users, token=token, action=str(action)
            )
    except tokens.TokenRefused as exc:
        with unit_of_work(svc.session_factory) as session:
            tokens.record_refusal(session, audit=svc.audit, refused=exc, path=request.path)
        if exc.forbidden:
            return errors.json_error("TokenRefused", exc.message, 403)
        return errors.json_error("TokenRefused", exc.message, 401, {"WWW-Authenticate": "Bearer"})
    # The token is its own credential with its own expiry: the owner's password age does not apply.
    g.ebr_user = dataclasses.replace(person, must_change_password=False, password_expires_at=None)
    g.ebr_api_token = row.name
    return None
