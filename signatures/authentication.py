"""Authentication: login and re-authentication for signing, directory users, refusals and lockout.

Used through :class:`signatures.users.UserService` (``authenticate``, ``reauthenticate``,
``record_refusal``). A refusal is audited in its own transaction after the caller's
ends (:mod:`signatures.outcome`); a credential failure counts toward lockout, and the
lock raises ``auth.locked`` plus an alert through the notifier.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from audit.chain import Entity
from ebr.core.errors import SignatureError
from signatures.alerts import Notifier
from signatures.directory import Directory, DirectoryUser
from signatures.errors import (
    AccountabilityNotAccepted,
    AccountDisabled,
    AccountLocked,
    AuthenticationFailed,
    CredentialsRefused,
    IdentityNotVerified,
    NotPermitted,
    PasswordExpired,
    UnknownUser,
    WrongPassword,
)
from signatures.identity import User, UserRecords
from signatures.models import UserAccount
from signatures.outcome import record_independently
from signatures.passwords import check_password, dummy_check
from signatures.permissions import conflicts, parse_roles
from signatures.throttle import Throttle, client_address

SYSTEM_ACTOR = "system:auth"


class Authenticator:
    """Checks user id and password (locally or in the directory) and records refusals.

    What the caller learns is the same for an unknown id, a wrong password, a locked
    account and a deactivated account with a wrong password: :class:`CredentialsRefused`,
    after the same Argon2id work (a dummy check when there is no hash to check). Only
    the right password earns a specific answer (deactivated, no role in the directory).
    The audit event keeps the real reason. Failures are throttled per client and per
    user id (:mod:`signatures.throttle`).
    """

    def __init__(
        self,
        users: UserRecords,
        *,
        lockout_attempts: int,
        notifier: Notifier,
        directory: Directory | None,
        throttle: Throttle | None = None,
    ) -> None:
        self.users = users
        self.lockout_attempts = lockout_attempts
        self.notifier = notifier
        self.directory = directory
        self.throttle = throttle

    def authenticate(self, session: Session, user_id: str, password: str) -> User:
        """Log in with user id and password. Failures count toward lockout.

        An expired or admin-set password still logs in, with ``must_change_password``
        or ``password_expired(now)`` telling the caller to force a change first.
        Raises CredentialsRefused, TooManyAttempts, AccountDisabled, NotPermitted (a
        directory user in no mapped group), DirectoryUnavailable.
        """
        row = self.check_credentials(session, user_id, password, purpose="login", allow_expired=True)
        self.users.audit.record(session, actor=row.user_id, action="auth.login", entity=Entity("user", row.user_id))
        return self.users.view(row)

    def reauthenticate(
        self, session: Session, user_id: str, password: str, *, context: Mapping[str, Any]
    ) -> UserAccount:
        """Both components again, for a signature (11.200(a)); an expired password is refused."""
        return self.check_credentials(session, user_id, password, purpose="signature", context=context)

    def check_credentials(
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
        if self.throttle is not None:
            self.throttle.check(session, user_id)
        try:
            row = self._verify(session, user_id, password, allow_expired=allow_expired)
        except SignatureError as exc:
            self.record_refusal(session, user_id=user_id, purpose=purpose, error=exc, context=context or {})
            if isinstance(exc, AuthenticationFailed | AccountLocked):
                raise CredentialsRefused() from exc
            raise
        row.failed_attempts = 0
        return row

    def _verify(self, session: Session, user_id: str, password: str, *, allow_expired: bool) -> UserAccount:
        row = session.get(UserAccount, user_id)
        if row is None or row.source == "ldap":
            row = self._directory_login(session, row, user_id, password)
        else:
            if row.locked:
                dummy_check(password)  # a locked account is not a password oracle
                raise AccountLocked(
                    f"user {user_id!r} is locked after repeated failed attempts; an administrator must unlock it"
                )
            if not check_password(row.password_hash, password):
                raise WrongPassword(f"wrong password for {user_id!r}")
            check_active(row)
        if not allow_expired and self.users.view(row).password_expired(self.users.clock.now()):
            raise PasswordExpired(
                f"the password of {user_id!r} has expired or must be changed first; change it, then sign again"
            )
        return row

    def _directory_login(self, session: Session, row: UserAccount | None, user_id: str, password: str) -> UserAccount:
        if self.directory is None:
            dummy_check(password)
            raise UnknownUser(f"unknown user {user_id!r}")
        if row is not None and row.locked:
            dummy_check(password)
            raise AccountLocked(f"directory user {user_id!r} is locked here after repeated failed attempts")
        found = self.directory.authenticate(user_id, password)
        if row is not None:
            check_active(row)
        _check_directory_roles(found)
        if row is None:
            self.users.create(
                session,
                actor=SYSTEM_ACTOR,
                user_id=user_id,
                full_name=found.full_name,
                roles=found.roles,
                source="ldap",
                must_change=False,
                identity_check=None,  # an administrator must verify a directory user before they sign
            )
            row = self.users.row(session, user_id)
        else:
            self._sync_directory(session, row, found)
        if self.users.keys.current(session, user_id) is None:
            self.users.keys.rotate(session, row.user_id, password)
        return row

    def _sync_directory(self, session: Session, row: UserAccount, found: DirectoryUser) -> None:
        roles = _role_text(parse_roles(found.roles))
        if (row.full_name, row.roles) == (found.full_name, roles):
            return
        before = {"full_name": row.full_name, "roles": row.roles.split()}
        row.full_name, row.roles = found.full_name, roles
        self.users.audit.record(
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
        counts = _counts_toward_lockout(purpose, error)
        throttled = self.throttle if isinstance(error, AuthenticationFailed | AccountLocked) else None
        client = client_address.get()

        def work(own: Session) -> Callable[[], None] | None:
            self.users.audit.record(own, actor=actor, action=action, entity=Entity("user", user_id), after=details)
            if throttled is not None:
                throttled.count_failure(own, user_id, client)
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
        self.users.audit.record(
            own,
            actor=SYSTEM_ACTOR,
            action="auth.locked",
            entity=Entity("user", user_id),
            before={"locked": False},
            after={"locked": True, **details},
            reason=f"{row.failed_attempts} consecutive failed attempts",
        )
        return lambda: self.notifier.alert("auth.locked", {"user_id": user_id, **details})


def check_active(row: UserAccount) -> None:
    """Told only after the right password: an attacker learns nothing about who exists."""
    if not row.active:
        raise AccountDisabled(f"user {row.user_id!r} is deactivated and cannot log in or sign")


def _check_directory_roles(found: DirectoryUser) -> None:
    """A directory user must belong to a mapped group, and not to two incompatible ones."""
    if not found.roles:
        raise NotPermitted(
            f"{found.user_id!r} is in none of the directory groups that give a role in the EBR system; "
            "ask IT to add you to the group for your job (no account was created)"
        )
    clash = conflicts(found.roles)
    if clash:
        raise NotPermitted(
            f"the directory groups of {found.user_id!r} give roles one person may not hold "
            f"({'; '.join(clash)}); ask IT to remove you from one of the groups"
        )


def _role_text(roles: Any) -> str:
    return " ".join(r.value for r in roles)


def _counts_toward_lockout(purpose: str, error: SignatureError) -> bool:
    """Wrong credentials always count; so does every refused signature attempt (issue #4:
    wrong role, self-verification, expired password), except the two refusals that
    are the system's own pending steps (statement not yet accepted, identity not yet
    verified by an admin), which the UI resolves without any attempt by the user."""
    if isinstance(error, AuthenticationFailed):
        return True
    return purpose == "signature" and not isinstance(error, AccountabilityNotAccepted | IdentityNotVerified)
