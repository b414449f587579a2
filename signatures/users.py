"""Users: creation, login, lockout, passwords and signing keys (``services.users``).

User ids are never reused: a user is deactivated, never deleted. Every change is
audited in the caller's transaction; a refused attempt is audited (and counted toward
lockout) in its own transaction so that it survives the caller's rollback
(:mod:`signatures.outcome`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.chain import Entity
from audit.trail import AuditTrail
from ebr.core.canonical import content_hash
from ebr.core.clock import Clock
from ebr.core.errors import Conflict, NotFound, SignatureError, ValidationError
from signatures import keys as keylib
from signatures.accountability import STATEMENT, STATEMENT_VERSION
from signatures.alerts import LogNotifier, Notifier
from signatures.authentication import SYSTEM_ACTOR, Authenticator
from signatures.directory import Directory
from signatures.errors import (
    PasswordRejected,
)
from signatures.grants import RoleGrants, adds_gmp_role
from signatures.identity import User as User  # re-exported: the rest of the system imports it from here
from signatures.identity import required_reason as required_reason
from signatures.keystore import KeyStore
from signatures.models import PasswordHistory, SigningKey, UserAccount
from signatures.passwords import DEFAULT_HASHER, PasswordPolicy, check_password, hash_password, one_time_password
from signatures.permissions import GMP_ROLES, Role, parse_roles, require_compatible
from signatures.sessions import SessionService
from signatures.throttle import Throttle

CHECKED_AT_CREATION = "identity verified by the administrator who created the account"
USER_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


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
        throttle: Throttle | None = None,
        grant_confirmation: bool = False,
    ) -> None:
        self.audit = audit
        self.clock = clock
        self.policy = policy or PasswordPolicy()
        self.notifier = notifier or LogNotifier()
        self.keys = KeyStore(clock=clock, kdf=kdf)
        self.sessions = SessionService(audit=audit, clock=clock, idle_minutes=idle_minutes)
        self.grant_confirmation = grant_confirmation
        self.grants = RoleGrants(self)
        self.auth = Authenticator(
            self, lockout_attempts=lockout_attempts, notifier=self.notifier, directory=directory, throttle=throttle
        )

    # -- reading -----------------------------------------------------------------

    def view(self, row: UserAccount) -> User:
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
            identity_verified_at=row.identity_verified_at,
            identity_verified_by=row.identity_verified_by,
            identity_check=row.identity_check,
        )

    def row(self, session: Session, user_id: str) -> UserAccount:
        row = session.get(UserAccount, user_id)
        if row is None:
            raise NotFound(f"no user {user_id!r}; `ebr user list` shows every user id")
        return row

    def get(self, session: Session, user_id: str) -> User:
        """The user ``user_id``; raises NotFound."""
        return self.view(self.row(session, user_id))

    def list(self, session: Session) -> list[User]:
        """Every user, active or not, by id."""
        return [self.view(r) for r in session.scalars(select(UserAccount).order_by(UserAccount.user_id))]

    def role_conflicts(self, session: Session) -> Mapping[str, Sequence[str]]:
        """Active users holding roles one person may not combine (from before the rule), by id."""
        return self.grants.conflicts(session)

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
        identity_check: str | None = CHECKED_AT_CREATION,
    ) -> User:
        """Create a user. A password set by someone else must be changed at first login.

        ``identity_check`` says how ``actor`` verified the person's identity (11.100(b));
        None leaves it unverified (directory provisioning): signing is refused until an
        administrator records it with :meth:`verify_identity`.

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
        requested = require_compatible(parse_roles(str(r) for r in roles), user_id)
        if session.get(UserAccount, user_id) is not None:
            raise Conflict(f"user id {user_id!r} already exists (ids are never reused, even after deactivation)")
        # With four eyes on GMP roles, the new account starts without them and a grant waits.
        held_back = self.grant_confirmation and source == "local" and adds_gmp_role([], requested)
        parsed = [r for r in requested if r not in GMP_ROLES] if held_back else requested
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
            identity_verified_by=actor if identity_check else None,
            identity_verified_at=now if identity_check else None,
            identity_check=identity_check or None,
            created_at=now,
            created_by=actor,
        )
        session.add(row)
        session.flush()
        after = {
            "full_name": row.full_name,
            "roles": [r.value for r in parsed],
            "source": source,
            "identity_check": row.identity_check,
        }
        self.audit.record(session, actor=actor, action="user.created", entity=Entity("user", user_id), after=after)
        if held_back:
            self.grants.request(session, actor=actor, row=row, roles=requested, reason="roles asked for at creation")
        if password is not None:
            self._set_password(session, row, password, actor=actor, must_change=row.must_change_password)
        return self.view(row)

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

    def verify_identity(self, session: Session, *, actor: str, user_id: str, how: str) -> User:
        """Record that ``actor`` verified the identity of ``user_id`` and how (21 CFR 11.100(b))."""
        row = self.row(session, user_id)
        how = required_reason(how, "recording an identity check (say how it was verified)")
        before = {"identity_verified_by": row.identity_verified_by, "identity_check": row.identity_check}
        row.identity_verified_by, row.identity_verified_at, row.identity_check = actor, self.clock.now(), how
        self.audit.record(
            session,
            actor=actor,
            action="user.identity_verified",
            entity=Entity("user", user_id),
            before=before,
            after={
                "identity_verified_by": actor,
                "identity_verified_at": row.identity_verified_at,
                "identity_check": how,
            },
            reason=how,
        )
        return self.view(row)

    def set_roles(self, session: Session, *, actor: str, user_id: str, roles: Iterable[str], reason: str) -> User:
        """Replace a user's roles; see :meth:`signatures.grants.RoleGrants.change` (SoD, four eyes)."""
        return self.grants.change(session, actor=actor, row=self.row(session, user_id), roles=roles, reason=reason)

    def apply_roles(self, session: Session, *, actor: str, row: UserAccount, roles: Iterable[str], reason: str) -> User:
        """Write a checked role change at once; see :meth:`signatures.grants.RoleGrants.apply`."""
        return self.grants.apply(session, actor=actor, row=row, roles=roles, reason=reason)

    def deactivate(self, session: Session, *, actor: str, user_id: str, reason: str) -> User:
        """Deactivate a user for good (the id stays reserved) and end their web sessions."""
        row = self.row(session, user_id)
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
            reason=required_reason(reason, "deactivating a user"),
        )
        return self.view(row)

    def unlock(self, session: Session, *, actor: str, user_id: str, reason: str) -> User:
        """Unlock a locked account (admins only, with a reason)."""
        row = self.row(session, user_id)
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
            reason=required_reason(reason, "unlocking an account"),
        )
        return self.view(row)

    def reset_password(self, session: Session, *, actor: str, user_id: str, reason: str | None = None) -> str:
        """Give the user a one-time password (returned once, never stored in clear) to change at next login."""
        row = self.row(session, user_id)
        if row.source != "local":
            raise ValidationError(f"{user_id!r} is a directory (LDAP) user; reset the password in the directory")
        temporary = one_time_password()
        # A reset deauthorizes a possibly compromised credential at once (URS-SEC-008).
        self.sessions.end_all(session, user_id=user_id, reason="password reset by an administrator")
        self._set_password(
            session, row, temporary, actor=actor, must_change=True, action="user.password_reset", reason=reason
        )
        return temporary

    def change_password(self, session: Session, *, user_id: str, old_password: str, new_password: str) -> User:
        """The user changes their own password; the signing key is rotated (old public key kept)."""
        row = self.auth.check_credentials(session, user_id, old_password, purpose="password change", allow_expired=True)
        if row.source != "local":
            raise ValidationError("directory (LDAP) users change their password in the directory")
        self._set_password(session, row, new_password, actor=user_id, must_change=False)
        return self.view(row)

    def accept_accountability(self, session: Session, *, user_id: str) -> User:
        """Record that the user accepted the electronic signature accountability statement (11.10(j))."""
        row = self.row(session, user_id)
        if row.accountability_accepted_at is not None:
            return self.view(row)
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
        return self.view(row)

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
        key = self.keys.rotate(session, row.user_id, password)
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
        return self.keys.current(session, user_id)

    # -- authentication (signatures.authentication) ---------------------------------------

    def authenticate(self, session: Session, user_id: str, password: str) -> User:
        """Log in with user id and password; see :meth:`Authenticator.authenticate`."""
        return self.auth.authenticate(session, user_id, password)

    def reauthenticate(
        self, session: Session, user_id: str, password: str, *, context: Mapping[str, Any]
    ) -> UserAccount:
        """Both components again, for a signature (11.200(a)); an expired password is refused."""
        return self.auth.reauthenticate(session, user_id, password, context=context)

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
        """Audit a refused attempt in its own transaction (and count a credential failure)."""
        self.auth.record_refusal(session, user_id=user_id, purpose=purpose, error=error, context=context, actor=actor)

    def rotate_key_for_directory_user(self, session: Session, row: UserAccount, password: str) -> SigningKey:
        """The directory password changed (bind succeeded, old key will not open): make a new key."""
        old = self.current_key(session, row.user_id)
        key = self.keys.rotate(session, row.user_id, password)
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
