"""Machine tokens: the one credential of clients that are not a person at a keyboard.

Two kinds share the table, the hashing and the revocation:

* a **channel token** (scope ``b2mml:inbound`` or ``lims:results``), the credential an
  ERP presents to ``POST /api/integration/b2mml`` or the LIMS channel is bound to; a
  message received with it is audited with the token's name as its source
  (``erp:http:<name>``);
* an **API token** (scope ``api``) that a person makes for a machine client of the JSON
  API (``Authorization: Bearer <token>``): it acts for its ``owner`` and only within its
  ``scopes`` (permission actions of the one table, or a group of them such as ``recipe``
  or ``read``), never beyond the owner's own roles at the time of use, and it ends at
  ``expires_at``. It never signs: ``sign.*`` is refused as a scope and the API refuses
  any request carrying a password on a token (e-signatures need a person).

A token is shown once when created; only its SHA-256 is stored. Creation and
revocation are audited, and so is every refused use of a known token (expired,
revoked, outside its scopes, owner deactivated).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.chain import Entity
from audit.trail import AuditTrail
from ebr.core.clock import Clock
from ebr.core.errors import NotFound, PermissionDenied, StateError, ValidationError
from ebr.core.ids import new_id
from ebr.integration.models import MachineToken
from signatures.permissions import ALL_ACTIONS, allowed

INBOUND = "b2mml:inbound"
LIMS = "lims:results"
SCOPES = (INBOUND, LIMS)
API = "api"
MAX_LIFETIME = dt.timedelta(days=366)
CHANNEL_ACTOR = "system:integration"


class TokenRefused(PermissionDenied):
    """An API token that may not be used (for this request).

    ``name`` and ``owner`` are the token's when it is known (its refusal is audited);
    ``forbidden`` is True when the token is live but the request is outside what it may do.
    """

    def __init__(self, message: str, row: MachineToken | None = None, *, forbidden: bool = False) -> None:
        super().__init__(message)
        self.name = row.name if row is not None else None
        self.owner = (row.owner or row.created_by) if row is not None else None
        self.forbidden = forbidden


class Users(Protocol):
    def get(self, session: Session, user_id: str) -> Any: ...


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(
    session: Session,
    *,
    audit: AuditTrail,
    clock: Clock,
    actor: str,
    name: str,
    scope: str = INBOUND,
    _api: bool = False,
) -> str:
    """A new channel token for ``name`` (returned once); raises ValidationError for a taken name or unknown scope."""
    name = name.strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise ValidationError("a token needs a name of 1 to 100 printable characters (e.g. the ERP system's id)")
    if scope not in SCOPES and not (_api and scope == API):
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
    if not _api:
        audit.record(
            session, actor=actor, action="integration.token.created", entity=Entity("machine_token", name),
            after={"scope": scope},
        )  # fmt: skip
    return token


def revoke(session: Session, *, audit: AuditTrail, clock: Clock, actor: str, name: str, reason: str) -> MachineToken:
    """Revoke the token ``name`` at once (audited with the reason)."""
    row = session.scalars(select(MachineToken).where(MachineToken.name == name).with_for_update()).first()
    if row is None:
        raise NotFound(f"no token named {name!r}; `ebr erp token list` and `ebr api-token list` show them")
    if row.revoked_at is not None:
        raise StateError(f"token {name!r} was revoked already")
    if not reason.strip():
        raise ValidationError("a revocation needs a reason; say why the token is withdrawn")
    row.revoked_at, row.revoked_by = clock.now(), actor
    session.flush()
    action, kind = (
        ("api.token.revoked", "api_token") if row.scope == API else ("integration.token.revoked", "machine_token")
    )
    audit.record(
        session, actor=actor, action=action, entity=Entity(kind, name),
        before={"revoked": False}, after={"revoked": True}, reason=reason,
    )  # fmt: skip
    return row


def authenticate(session: Session, *, clock: Clock, token: str | None, scope: str) -> MachineToken:
    """The live token matching ``token`` with ``scope``; raises :class:`TokenRefused` otherwise.

    ``forbidden`` is set on the refusal of a live token of another scope (HTTP 403); the
    rest (no token, unknown, revoked, expired) is a missing credential (HTTP 401).
    """
    if not token:
        raise TokenRefused("a machine token is required: send `Authorization: Bearer <token>`")
    digest = _digest(token)
    row = session.scalars(select(MachineToken).where(MachineToken.token_sha256 == digest)).first()
    if row is None or not hmac.compare_digest(row.token_sha256, digest):
        raise TokenRefused("the machine token is unknown or revoked; ask the administrator for a new one")
    if row.revoked_at is not None:
        raise TokenRefused("the machine token is unknown or revoked; ask the administrator for a new one", row)
    if row.expires_at is not None and row.expires_at <= clock.now():
        raise TokenRefused(f"token {row.name!r} expired; ask the administrator for a new one", row)
    if row.scope != scope:
        raise TokenRefused(
            f"token {row.name!r} has scope {row.scope}, not {scope}; this channel needs a token of scope {scope}",
            row,
            forbidden=True,
        )
    row.last_used_at = clock.now()
    return row


def record_channel_refusal(
    session: Session, *, audit: AuditTrail, refused: TokenRefused, scope: str, path: str
) -> None:
    """Audit a refused use of a known machine token on a channel (an unknown token names nobody)."""
    if refused.name is None:
        return  # recording unknown tokens would let anyone flood the trail
    audit.record(
        session, actor=CHANNEL_ACTOR, action="integration.token.refused", entity=Entity("machine_token", refused.name),
        after={"refused": refused.message, "scope": scope, "path": path[:200]},
    )  # fmt: skip


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


# -- API tokens --------------------------------------------------------------------------


def expand_scopes(scopes: Iterable[str], *, may: Callable[[str], bool] = lambda _action: True) -> list[str]:
    """Permission actions named by ``scopes``: an action, ``read`` (every ``*.view``) or a group such
    as ``recipe`` (every ``recipe.*``). A group gives only the actions ``may`` allows; an action
    named alone must be allowed. Raises ValidationError naming each bad scope.

    ``sign.*`` is refused: a token never signs (an e-signature needs a person, 21 CFR 11.200).
    """
    actions: set[str] = set()
    problems = []
    for raw in scopes:
        scope = raw.strip()
        if scope == "sign" or scope.startswith("sign."):
            problems.append(f"scope {scope!r}: a token can never sign; e-signatures need a person")
        elif scope in ALL_ACTIONS:
            if may(scope):
                actions.add(scope)
            else:
                problems.append(f"scope {scope!r}: not permitted with the owner's roles")
        elif scope == "read" or (scope and any(a.startswith(scope + ".") for a in ALL_ACTIONS)):
            group = {a for a in ALL_ACTIONS if (a.endswith(".view") if scope == "read" else a.startswith(scope + "."))}
            allowed_here = {a for a in group if may(a) and not a.startswith("sign.")}
            if not allowed_here:
                problems.append(f"scope {scope!r}: nothing of it is permitted with the owner's roles")
            actions |= allowed_here
        else:
            problems.append(f"scope {scope!r}: not a permission action or group (`ebr user permissions` lists them)")
    if not actions and not problems:
        problems.append("a token needs at least one scope, e.g. --scope read or --scope recipe.view")
    if problems:
        raise ValidationError("the API token cannot be made: a token never has more than its owner", problems)
    return sorted(actions)


def create_api(
    session: Session,
    *,
    audit: AuditTrail,
    clock: Clock,
    users: Users,
    owner: str,
    name: str,
    scopes: Iterable[str],
    expires_at: dt.datetime,
) -> str:
    """A new API token of ``owner`` (returned once), limited to ``scopes`` until ``expires_at``.

    Each scope must be allowed to the owner now (a token never has more than its person; a
    group gives what of it the owner may);
    the lifetime is at most :data:`MAX_LIFETIME`. Raises ValidationError otherwise.
    """
    person = users.get(session, owner)
    if not person.active:
        raise ValidationError(f"user {owner!r} is deactivated and cannot own a token")
    actions = expand_scopes(scopes, may=lambda action: allowed(person.roles, action))
    now = clock.now()
    if expires_at.tzinfo is None or expires_at <= now or expires_at > now + MAX_LIFETIME:
        raise ValidationError(
            f"the expiry must be a moment with a time zone after now and at most {MAX_LIFETIME.days} days ahead"
        )
    token = create(session, audit=audit, clock=clock, actor=owner, name=name, scope=API, _api=True)
    row = session.scalars(select(MachineToken).where(MachineToken.name == name.strip())).one()
    row.owner, row.scopes, row.expires_at = owner, " ".join(actions), expires_at
    session.flush()
    audit.record(
        session, actor=owner, action="api.token.created", entity=Entity("api_token", row.name),
        after={"owner": owner, "scopes": actions, "expires_at": expires_at},
    )  # fmt: skip
    return token


def authenticate_api(
    session: Session, *, clock: Clock, users: Users, token: str, action: str
) -> tuple[MachineToken, Any]:
    """The live API token ``token`` and its owner, for ``action``; raises :class:`TokenRefused`.

    Refused: an unknown, revoked or expired token, an action outside its scopes, an
    owner who is deactivated or whose roles no longer allow the action.
    """
    digest = _digest(token)
    row = session.scalars(select(MachineToken).where(MachineToken.token_sha256 == digest)).first()
    if row is None or row.scope != API or not hmac.compare_digest(row.token_sha256, digest):
        raise TokenRefused("the API token is unknown; ask for a new one (`ebr api-token create`)")
    now = clock.now()
    if row.revoked_at is not None:
        raise TokenRefused(f"API token {row.name!r} was revoked; make a new one", row)
    if row.expires_at is None or row.expires_at <= now:
        raise TokenRefused(f"API token {row.name!r} expired; make a new one", row)
    if action not in (row.scopes or "").split():
        raise TokenRefused(
            f"API token {row.name!r} does not have the scope {action!r}; make one that has", row, forbidden=True
        )
    person = users.get(session, row.owner or "")
    if not person.active or not allowed(person.roles, action):
        raise TokenRefused(f"the owner of API token {row.name!r} may no longer do {action!r}", row, forbidden=True)
    row.last_used_at = now
    return row, person


def record_refusal(session: Session, *, audit: AuditTrail, refused: TokenRefused, path: str) -> None:
    """Audit a refused use of a known token (its owner is the actor: it is their credential)."""
    if refused.name is None or refused.owner is None:
        return  # an unknown token names nobody; recording it would let anyone flood the trail
    audit.record(
        session, actor=refused.owner, action="api.token.refused", entity=Entity("api_token", refused.name),
        after={"refused": refused.message, "path": path[:200]},
    )  # fmt: skip


def api_tokens(session: Session) -> list[MachineToken]:
    """Every API token (live or not), by name."""
    return list(session.scalars(select(MachineToken).where(MachineToken.scope == API).order_by(MachineToken.name)))
