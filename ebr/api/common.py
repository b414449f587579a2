"""What every API view needs: the execution service, a unit of work, the signed-in user, JSON errors.

Every error body is ``ebr.web.errors.error_body`` (declared once as ``ErrorOut``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from flask import current_app
from flask_smorest import Blueprint
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.core.errors import Conflict, PermissionDenied
from ebr.execution.service import Execution, build
from ebr.materials.services import Credentials
from ebr.web import access, errors
from ebr.web.registry import services_of


def services() -> Services:
    return services_of(current_app)


def execution() -> Execution:
    return build(services())


@contextmanager
def work() -> Iterator[Session]:
    """One unit of work: commits when the view's block ends, rolls back on any error.

    A row changed by someone else between our read and our write (the ORM's version
    check) is the same conflict as a stale version sent by the client.
    """
    try:
        with unit_of_work(services().session_factory) as session:
            yield session
    except StaleDataError:
        raise Conflict("someone else changed this record at the same moment; reload it and try again") from None


def actor() -> str:
    return access.user_id()


def credentials(data: Mapping[str, Any]) -> Credentials:
    return Credentials(user_id=str(data["user_id"]).strip().lower(), password=data["password"], meaning=data["meaning"])


def own_credentials(
    data: Mapping[str, Any], *, meaning: str | None = None, second_person: frozenset[str] = frozenset()
) -> Credentials:
    """The signature of ``data``, which must be the signed-in person's own (PermissionDenied, 403).

    Nobody signs in another person's session, even knowing their password: the session is
    who acts, the signature who answers for it (21 CFR 11.200(a)(2)). ``second_person``
    names the meanings that are by design another person's (a supervisor's ``restarted`` at
    the operator's tablet). Checked before anything is looked up or stored.
    """
    signer = str(data["user_id"]).strip().lower()
    wanted = meaning if meaning is not None else data.get("meaning", "performed")
    if signer != actor() and wanted not in second_person:
        raise PermissionDenied(
            f"you are signed in as {actor()!r}: sign with your own user id and password, not {signer!r}'s"
        )
    return Credentials(user_id=signer, password=data["password"], meaning=wanted)


def plain(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """Values with JSON numbers turned into exact Decimals via their text (never used as floats)."""
    out: dict[str, Any] = {}
    for key, value in (values or {}).items():
        out[key] = Decimal(repr(value)) if isinstance(value, float) else value
    return out


def blueprint(name: str, url_prefix: str, description: str) -> Blueprint:
    """An API blueprint whose HTTP errors (bad JSON, validation, 405 …) come back as our JSON."""
    blp = Blueprint(name, __name__, url_prefix=url_prefix, description=description)
    blp.register_error_handler(HTTPException, errors.http_error)
    return blp
