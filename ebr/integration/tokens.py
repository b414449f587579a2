"""Machine tokens: the credential an ERP presents to ``POST /api/integration/b2mml``.

A token is shown once when created; only its SHA-256 is stored. It carries one
scope (``b2mml:inbound``), can be revoked, and every creation and revocation is
audited. A message received with a token is audited with the token's name as its
source (``erp:http:<name>``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.chain import Entity
from audit.trail import AuditTrail
from ebr.core.clock import Clock
from ebr.core.errors import NotFound, PermissionDenied, StateError, ValidationError
from ebr.core.ids import new_id
from ebr.integration.models import MachineToken

INBOUND = "b2mml:inbound"
LIMS = "lims:results"
SCOPES = (INBOUND, LIMS)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(session: Session, *, audit: AuditTrail, clock: Clock, actor: str, name: str, scope: str = INBOUND) -> str:
    """A new token for ``name`` (returned once); raises ValidationError for a taken name or unknown scope."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationError("a token needs a name of 1 to 100 characters (e.g. the ERP system's id)")
    if scope not in SCOPES:
        raise ValidationError(f"unknown scope {scope!r}; use one of {', '.join(SCOPES)}")
    if session.scalars(select(MachineToken).where(MachineToken.name == name)).first() is not None:
        raise ValidationError(f"a token named {name!r} exists; revoke it or choose another name")
    token = "ebr_" + secrets.token_urlsafe(32)
    session.add(
        MachineToken(
            id=new_id(), name=name, scope=scope, token_sha256=_digest(token), created_at=clock.now(), created_by=actor
        )
    )
    session.flush()
    audit.record(
        session, actor=actor, action="integration.token.created", entity=Entity("machine_token", name),
        after={"scope": scope},
    )  # fmt: skip
    return token


def revoke(session: Session, *, audit: AuditTrail, clock: Clock, actor: str, name: str, reason: str) -> MachineToken:
    """Revoke the token ``name`` at once (audited with the reason)."""
    row = session.scalars(select(MachineToken).where(MachineToken.name == name).with_for_update()).first()
    if row is None:
        raise NotFound(f"no token named {name!r}; `ebr erp token list` shows them")
    if row.revoked_at is not None:
        raise StateError(f"token {name!r} was revoked already")
    if not reason.strip():
        raise ValidationError("a revocation needs a reason")
    row.revoked_at, row.revoked_by = clock.now(), actor
    session.flush()
    audit.record(
        session, actor=actor, action="integration.token.revoked", entity=Entity("machine_token", name),
        before={"revoked": False}, after={"revoked": True}, reason=reason,
    )  # fmt: skip
    return row


def authenticate(session: Session, *, clock: Clock, token: str | None, scope: str) -> MachineToken:
    """The live token matching ``token`` with ``scope``; raises PermissionDenied otherwise."""
    if not token:
        raise PermissionDenied("a machine token is required: send `Authorization: Bearer <token>`")
    digest = _digest(token)
    row = session.scalars(select(MachineToken).where(MachineToken.token_sha256 == digest)).first()
    if row is None or not hmac.compare_digest(row.token_sha256, digest) or row.revoked_at is not None:
        raise PermissionDenied("the machine token is unknown or revoked; ask the administrator for a new one")
    if row.scope != scope:
        raise PermissionDenied(f"token {row.name!r} has scope {row.scope}, not {scope}")
    row.last_used_at = clock.now()
    return row


def named(session: Session, *, name: str | None, scope: str) -> MachineToken:
    """The live token ``name`` with ``scope`` (a channel bound to a token, e.g. the LIMS folder)."""
    if not name:
        raise PermissionDenied(f"no machine token is configured for this channel; create one with scope {scope}")
    row = session.scalars(select(MachineToken).where(MachineToken.name == name)).first()
    if row is None or row.revoked_at is not None:
        raise PermissionDenied(f"machine token {name!r} is unknown or revoked; ask the administrator for a new one")
    if row.scope != scope:
        raise PermissionDenied(f"token {row.name!r} has scope {row.scope}, not {scope}")
    return row


def tokens(session: Session) -> list[MachineToken]:
    return list(session.scalars(select(MachineToken).order_by(MachineToken.name)))
