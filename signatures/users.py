"""Users: creation, login, lockout, passwords and signing keys (``services.users``).

User ids are never reused: a user is deactivated, never deleted. Every change is
audited in the caller's transaction; a refused attempt is audited (and counted toward
lockout) in its own transaction so that it survives the caller's rollback
(:mod:`signatures.outcome`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from audit.chain import Entity
from audit.trail import AuditTrail
from ebr.canonical import content_hash
from ebr.clock import Clock
from ebr.errors import Conflict, NotFound, SignatureError, ValidationError
from signatures import keys as keylib
from signatures.accountability import STATEMENT, STATEMENT_VERSION
from signatures.alerts import LogNotifier, Notifier
from signatures.directory import Directory, DirectoryUser
from signatures.errors import (
    AccountDisabled,
    AccountLocked,
    AuthenticationFailed,
    PasswordExpired,
    PasswordRejected,
    UnknownUser,
    WrongPassword,
)
from signatures.models import PasswordHistory, SigningKey, UserAccount
from signatures.outcome import record_independently
from signatures.passwords import DEFAULT_HASHER, PasswordPolicy, check_password, hash_password, one_time_password
from signatures.permissions import Role, parse_roles
from signatures.sessions import SessionService

USER_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
SYSTEM_ACTOR = "system:auth"


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

    def password_expired(self, now: dt.datetime) -> bool:
        return self.must_change_password or (self.password_expires_at is not None and now >= self.password_expires_at)


def _role_text(roles: Iterable[Role]) -> str:
    return " ".join(r.value for r in roles)


class UserService:
    """Everything about users; build once in ``ebr.bootstrap``."""

    def __init__(
        self,
        *,
        audit: AuditTrail,
        clock: Clock,
        policy: PasswordPolicy | None = None,
        lockout_attempts: int = 5,
        idle_minutes: int = 15,
        notifier: Notifier | None = None,
        directory: Directory | None = None,
        kdf: keylib.KdfParams | None = None,
    ) -> None:
        self.audit = audit
        self.clock = clock
        self.policy = policy or PasswordPolicy()
        self.lockout_attempts = lockout_attempts
        self.notifier = notifier or LogNotifier()
        self.directory = directory
        self.kdf = kdf or keylib.KdfParams()
        self.sessions = SessionService(audit=audit, clock=clock, idle_minutes=idle_minutes)

    # -- reading -----------------------------------------------------------------

    def _view(self, row: UserAccount) -> User:
        expires = None if row.source != "local" else self.policy.expires_at(row.password_changed_at)
        return User(
            user_id=row.user_id,
            full_name=row.full_name,
            roles=tuple(Role(r) for r in row.roles.split()),
            source=row.source,
            active=row.active,
            locked=row.locked,
            failed_attempts=row.failed_attempts,
            must_change_password=row.must_change_password,
            password_expires_at=expires,
            accountability_accepted_at=row.accountability_accepted_at,
        )

    def _row(self, session: Session, user_id: str) -> UserAccount:
        row = session.get(UserAccount, user_id)
        if row is None:
            raise NotFound(f"no user {user_id!r}; `ebr user list` shows every user id")
        return row

    def get(self, session: Session, user_id: str) -> User:
        """The user ``user_id``; raises NotFound."""
        return self._view(self._row(session, user_id))

    def list(self, session: Session) -> list[User]:
        """Every user, active or not, by id."""
        return [self._view(r) for r in session.scalars(select(UserAccount).order_by(UserAccount.user_id))]

    def admin_exists(self, session: Session) -> bool:
        rows = session.scalars(select(UserAccount).where(UserAccount.active.is_(True)))
        return any(Role.admin.value in r.roles.split() for r in rows)

    # -- administration ------------------------------------------------------------

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
    ) -> User:
        """Create a user. A password set by someone else must be changed at first login.

        Raises ValidationError (bad id, name, role or password) or Conflict (id taken,
        even by a deactivated user: ids are never reused).
        """
        user_id = user_id.strip().lower()
        problems = []
        if not USER_ID.match(user_id):
            problems.append(f"user id {user_id!r}: use 2-64 lower-case letters, digits, '.', '_' or '-'")
        if not full_name.strip():
            problems.append("full name: the printed name is required (it appears on every signature)")
        if problems:
            raise ValidationError("the user cannot be created", problems)
        parsed = parse_roles(str(r) for r in roles)
        if session.get(UserAccount, user_id) is not None:
            raise Conflict(f"user id {user_id!r} already exists (ids are never reused, even after deactivation)")
        now = self.clock.now()
        row = UserAccount(
            user_id=user_id,
            full_name=full_name.strip(),
            roles=_role_text(parsed),
            source=source,
            active=True,
            locked=False,
            failed_attempts=0,
            password_hash=None,
            password_changed_at=None,
            must_change_password=must_change and source == "local",
            accountability_accepted_at=None,
            created_at=now,
            created_by=actor,
        )
        session.add(row)
        session.flush()
        after = {"full_name": row.full_name, "roles": [r.value for r in parsed], "source": source}
        self.audit.record(session, actor=actor, action="user.created", entity=Entity("user", user_id), after=after)
        if password is not None:
            self._set_password(session, row, password, actor=actor, must_change=row.must_change_password)
        return self._view(row)

    def ensure_first_admin(
        self, session: Session, *, user_id: str = "admin", password: str | None = None
    ) -> tuple[User, str | None] | None:
        """Create the first administrator when no active admin exists; None when one does.

        With ``password`` (the installer's choice) it is used as is; without, a one-time
        password is made, returned once, and must be changed at first login.
        """
        if self.admin_exists(session):
            return None
        temporary = None if password else one_time_password()
        user = self.create(
            session,
            actor="system:init",
            user_id=user_id,
            full_name="Administrator",
            roles=[Role.admin],
            password=password or temporary,
            must_change=temporary is not None,
        )
        return user, temporary

    def set_roles(self, session: Session, *, actor: str, user_id: str, roles: Iterable[str], reason: str) -> User:
        """Replace a user's roles (audited with the reason)."""
        row = self._row(session, user_id)
        parsed = parse_roles(roles)
        before = row.roles.split()
        row.roles = _role_text(parsed)
        self.audit.record(
            session,
            actor=actor,
            action="user.roles_changed",
            entity=Entity("user", user_id),
            before={"roles": before},
            after={"roles": [r.value for r in parsed]},
            reason=_required(reason, "changing roles"),
        )
        return self._view(row)

    def deactivate(self, session: Session, *, actor: str, user_id: str, reason: str) -> User:
        """Deactivate a user for good (the id stays reserved) and end their web sessions."""
        row = self._row(session, user_id)
        if not row.active:
            raise Conflict(f"user {user_id!r} is already deactivated")
        row.active = False
        self.sessions.end_all(session, user_id=user_id, reason="user deactivated")
        self.audit.record(
            session,
            actor=actor,
            action="user.deactivated",
            entity=Entity("user", user_id),
            before={"active": True},
            after={"active": False},
            reason=_required(reason, "deactivating a user"),
        )
        return self._view(row)

    def unlock(self, session: Session, *, actor: str, user_id: str, reason: str) -> User:
        """Unlock a locked account (admins only, with a reason)."""
        row = self._row(session, user_id)
        if not row.locked:
            raise Conflict(f"user {user_id!r} is not locked")
        before = {"locked": True, "failed_attempts": row.failed_attempts}
        row.locked, row.failed_attempts = False, 0
        self.audit.record(
            session,
            actor=actor,
            action="user.unlocked",
            entity=Entity("user", user_id),
            before=before,
            after={"locked": False, "failed_attempts": 0},
            reason=_required(reason, "unlocking an account"),
        )
        return self._view(row)

    def reset_password(self, session: Session, *, actor: str, user_id: str, reason: str | None = None) -> str:
        """Give the user a one-time password (returned once, never stored in clear) to change at next login."""
        row = self._row(session, user_id)
        if row.source != "local":
            raise ValidationError(f"{user_id!r} is a directory (LDAP) user; reset the password in the directory")
        temporary = one_time_password()
        self._set_password(
            session, row, temporary, actor=actor, must_change=True, action="user.password_reset", reason=reason
        )
        return temporary

    def change_password(self, session: Session, *, user_id: str, old_password: str, new_password: str) -> User:
        """The user changes their own password; the signing key is rotated (old public key kept)."""
        row = self._check_credentials(session, user_id, old_password, purpose="password change", allow_expired=True)
        if row.source != "local":
            raise ValidationError("directory (LDAP) users change their password in the directory")
        self._set_password(session, row, new_password, actor=user_id, must_change=False)
        return self._view(row)

    def accept_accountability(self, session: Session, *, user_id: str) -> User:
        """Record that the user accepted the electronic signature accountability statement (11.10(j))."""
        row = self._row(session, user_id)
        if row.accountability_accepted_at is not None:
            return self._view(row)
        row.accountability_accepted_at = self.clock.now()
        self.audit.record(
            session,
            actor=user_id,
            action="user.accountability_accepted",
            entity=Entity("user", user_id),
            after={
                "statement_version": STATEMENT_VERSION,
                "statement_hash": content_hash(STATEMENT),
                "accepted_at": row.accountability_accepted_at,
            },
        )
        return self._view(row)

    # -- passwords and keys -----------------------------------------------------------

    def _set_password(
        self,
        session: Session,
        row: UserAccount,
        password: str,
        *,
        actor: str,
        must_change: bool,
        action: str = "user.password_changed",
        reason: str | None = None,
    ) -> None:
        problems = self.policy.problems(password, user_id=row.user_id)
        if self._reused(session, row, password):
            problems.append(f"it was used before (the last {self.policy.history} passwords may not be reused)")
        if problems:
            raise PasswordRejected(f"the new password for {row.user_id!r} is not accepted", problems)
        now = self.clock.now()
        row.password_hash = hash_password(password)
        row.password_changed_at = now
        row.must_change_password = must_change
        session.add(PasswordHistory(user_id=row.user_id, password_hash=row.password_hash, set_at=now))
        key = self._rotate_key(session, row, password)
        after = {"must_change_password": must_change, "key_id": key.key_id}
        self.audit.record(
            session, actor=actor, action=action, entity=Entity("user", row.user_id), after=after, reason=reason
        )

    def _reused(self, session: Session, row: UserAccount, password: str) -> bool:
        if self.policy.history == 0:
            return False
        recent = session.scalars(
            select(PasswordHistory.password_hash)
            .where(PasswordHistory.user_id == row.user_id)
            .order_by(PasswordHistory.id.desc())
            .limit(self.policy.history)
        )
        return any(check_password(old, password, DEFAULT_HASHER) for old in recent)

    def current_key(self, session: Session, user_id: str) -> SigningKey | None:
        """The user's key that is valid now (None before a password was ever set)."""
        return session.scalars(
            select(SigningKey).where(SigningKey.user_id == user_id, SigningKey.valid_to.is_(None))
        ).first()

    def _rotate_key(self, session: Session, row: UserAccount, password: str) -> SigningKey:
        """Retire the current key (kept, with its validity period) and make a new one under ``password``."""
        now = self.clock.now()
        old = self.current_key(session, row.user_id)
        if old is not None:
            old.valid_to = now
        wrapped = keylib.new_wrapped_key(password, self.kdf)
        key = SigningKey(
            key_id=wrapped.key_id,
            user_id=row.user_id,
            public_key=wrapped.public_key,
            ciphertext=wrapped.ciphertext,
            nonce=wrapped.nonce,
            salt=wrapped.salt,
            kdf=wrapped.kdf,
            valid_from=now,
            valid_to=None,
        )
        session.add(key)
        session.flush()
        return key

    def rotate_key_for_directory_user(self, session: Session, row: UserAccount, password: str) -> SigningKey:
        """The directory password changed (bind succeeded, old key will not open): make a new key."""
        old = self.current_key(session, row.user_id)
        key = self._rotate_key(session, row, password)
        self.audit.record(
            session,
            actor=row.user_id,
            action="user.signing_key_rotated",
            entity=Entity("user", row.user_id),
            before={"key_id": old.key_id if old else None},
            after={"key_id": key.key_id},
            reason="password changed in the directory",
        )
        return key

    # -- authentication --------------------------------------------------------------

    def authenticate(self, session: Session, user_id: str, password: str) -> User:
        """Log in with user id and password. Failures count toward lockout.

        An expired or admin-set password still logs in, with ``must_change_password``
        or ``password_expired(now)`` telling the caller to force a change first.
        Raises UnknownUser, WrongPassword, AccountLocked, AccountDisabled, DirectoryUnavailable.
        """
        row = self._check_credentials(session, user_id, password, purpose="login", allow_expired=True)
        self.audit.record(session, actor=row.user_id, action="auth.login", entity=Entity("user", row.user_id))
        return self._view(row)

    def reauthenticate(
        self, session: Session, user_id: str, password: str, *, context: Mapping[str, Any]
    ) -> UserAccount:
        """Both components again, for a signature (11.200(a)); an expired password is refused."""
        return self._check_credentials(session, user_id, password, purpose="signature", context=context)

    def _check_credentials(
        self,
        session: Session,
        user_id: str,
        password: str,
        *,
        purpose: str,
        allow_expired: bool = False,
        context: Mapping[str, Any] | None = None,
    ) -> UserAccount:
        user_id = user_id.strip().lower()
        try:
            row = self._verify(session, user_id, password, allow_expired=allow_expired)
        except SignatureError as exc:
            self.record_refusal(session, user_id=user_id, purpose=purpose, error=exc, context=context or {})
            raise
        row.failed_attempts = 0
        return row

    def _verify(self, session: Session, user_id: str, password: str, *, allow_expired: bool) -> UserAccount:
        row = session.get(UserAccount, user_id)
        if row is None or row.source == "ldap":
            row = self._directory_login(session, row, user_id, password)
        else:
            _check_usable(row)
            if not check_password(row.password_hash, password):
                raise WrongPassword(
                    f"wrong password for {user_id!r}; type it again (repeated failures lock the account)"
                )
        if not allow_expired and self._view(row).password_expired(self.clock.now()):
            raise PasswordExpired(
                f"the password of {user_id!r} has expired or must be changed first; change it, then sign again"
            )
        return row

    def _directory_login(self, session: Session, row: UserAccount | None, user_id: str, password: str) -> UserAccount:
        if self.directory is None:
            raise UnknownUser(f"unknown user {user_id!r}; check the user id (an admin creates users)")
        if row is not None:
            _check_usable(row)
        found = self.directory.authenticate(user_id, password)
        if row is None:
            self.create(
                session,
                actor=SYSTEM_ACTOR,
                user_id=user_id,
                full_name=found.full_name,
                roles=found.roles,
                source="ldap",
                must_change=False,
            )
            row = self._row(session, user_id)
        else:
            self._sync_directory(session, row, found)
        if self.current_key(session, user_id) is None:
            self._rotate_key(session, row, password)
        return row

    def _sync_directory(self, session: Session, row: UserAccount, found: DirectoryUser) -> None:
        roles = _role_text(parse_roles(found.roles))
        if (row.full_name, row.roles) == (found.full_name, roles):
            return
        before = {"full_name": row.full_name, "roles": row.roles.split()}
        row.full_name, row.roles = found.full_name, roles
        self.audit.record(
            session,
            actor=SYSTEM_ACTOR,
            action="user.synchronized",
            entity=Entity("user", row.user_id),
            before=before,
            after={"full_name": row.full_name, "roles": roles.split()},
            reason="name or groups changed in the directory",
        )

    # -- refusals and lockout ------------------------------------------------------------

    def record_refusal(
        self,
        session: Session,
        *,
        user_id: str,
        purpose: str,
        error: SignatureError,
        context: Mapping[str, Any],
        actor: str = SYSTEM_ACTOR,
    ) -> None:
        """Audit a refused login or signature in its own transaction; count credential failures."""
        action = "auth.login_failed" if purpose == "login" else f"{purpose.replace(' ', '_')}.refused"
        if purpose == "signature":
            action = "signature.refused"
        details = {"error": type(error).__name__, "message": error.message, **dict(context)}
        counts = isinstance(error, AuthenticationFailed)

        def work(own: Session) -> Callable[[], None] | None:
            self.audit.record(own, actor=actor, action=action, entity=Entity("user", user_id), after=details)
            return self._count_failure(own, user_id) if counts else None

        record_independently(session, work)

    def _count_failure(self, own: Session, user_id: str) -> Callable[[], None] | None:
        own.execute(
            update(UserAccount)
            .where(UserAccount.user_id == user_id)
            .values(failed_attempts=UserAccount.failed_attempts + 1)
        )
        row = own.get(UserAccount, user_id)
        if row is None or row.locked or row.failed_attempts < self.lockout_attempts:
            return None
        row.locked = True
        details = {"failed_attempts": row.failed_attempts, "limit": self.lockout_attempts}
        self.audit.record(
            own,
            actor=SYSTEM_ACTOR,
            action="auth.locked",
            entity=Entity("user", user_id),
            before={"locked": False},
            after={"locked": True, **details},
            reason=f"{row.failed_attempts} consecutive failed attempts",
        )
        return lambda: self.notifier.alert("auth.locked", {"user_id": user_id, **details})


def _check_usable(row: UserAccount) -> None:
    if not row.active:
        raise AccountDisabled(f"user {row.user_id!r} is deactivated and cannot log in or sign")
    if row.locked:
        raise AccountLocked(
            f"user {row.user_id!r} is locked after repeated failed attempts; ask an administrator to unlock it"
        )


def _required(reason: str | None, doing: str) -> str:
    if not reason or not reason.strip():
        raise ValidationError(f"a reason is required for {doing}")
    return reason.strip()
