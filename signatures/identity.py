"""A user as the rest of the system sees it, and what login and role grants need of the users.

It sits below :mod:`signatures.users`, :mod:`signatures.authentication` and
:mod:`signatures.grants`: ``UserService`` builds its authenticator and its role grants
with itself, and they reach it through :class:`UserRecords` (a protocol) rather than by
importing ``signatures.users``, which imports them (that was an import circle).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session

from audit.trail import AuditTrail
from ebr.core.clock import Clock
from ebr.core.errors import ValidationError
from signatures.keystore import KeyStore
from signatures.models import UserAccount
from signatures.permissions import Role


@dataclass(frozen=True)
class User:
    """A user as the rest of the system sees it."""

    user_id: str
    full_name: str
    roles: tuple[Role, ...]
    source: str
    active: bool
    locked: bool
    failed_attempts: int
    must_change_password: bool
    password_expires_at: dt.datetime | None
    accountability_accepted_at: dt.datetime | None
    identity_verified_at: dt.datetime | None = None
    identity_verified_by: str | None = None
    identity_check: str | None = None  # how it was verified (21 CFR 11.100(b))

    def password_expired(self, now: dt.datetime) -> bool:
        return self.must_change_password or (self.password_expires_at is not None and now >= self.password_expires_at)


class UserRecords(Protocol):
    """What :class:`signatures.users.UserService` offers its authenticator and role grants."""

    audit: AuditTrail
    clock: Clock
    keys: KeyStore
    grant_confirmation: bool

    def view(self, row: UserAccount) -> User: ...

    def row(self, session: Session, user_id: str) -> UserAccount: ...

    def create(
        self,
        session: Session,
        *,
        actor: str,
        user_id: str,
        full_name: str,
        roles: Iterable[str | Role],
        password: str | None = None,
        must_change: bool = True,
        source: str = "local",
        identity_check: str | None = ...,
    ) -> User: ...


def required_reason(reason: str | None, doing: str) -> str:
    """The trimmed reason of a change; an empty one is a ValidationError naming what was being done."""
    if not reason or not reason.strip():
        raise ValidationError(f"a reason is required for {doing}")
    return reason.strip()
