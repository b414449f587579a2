"""Errors of the signatures package (identity, access control, signing).

::

    ebr.core.errors.SignatureError
    ├── AuthenticationFailed        the credentials were refused (counts toward lockout)
    │   ├── UnknownUser             no such user id
    │   ├── WrongPassword           the password does not match
    │   └── CredentialsRefused      (UnknownUser and WrongPassword) what the caller is told: the
    │                               same words for an unknown id, a wrong password, a locked
    │                               account and a deactivated one with a wrong password
    ├── TooManyAttempts             throttled: too many failed attempts from this client or for this id
    ├── AccountLocked               too many failed attempts; an admin must unlock
    ├── AccountDisabled             the user was deactivated
    ├── PasswordExpired             the password is too old or must be changed first
    ├── PasswordRejected            a new password breaks the policy (lists every reason)
    ├── SegregationOfDuties         this person may not sign this record (e.g. self-verification)
    ├── AccountabilityNotAccepted   the accountability statement must be accepted first
    ├── IdentityNotVerified         an administrator has not yet recorded the identity check
    ├── DirectoryUnavailable        the LDAP directory cannot be reached
    ├── SessionExpired              the web session ended (idle timeout or logout)
    └── NotPermitted                (also ebr.core.errors.PermissionDenied) the roles do not allow it

Each message names the user and says what to do.
"""

from __future__ import annotations

from collections.abc import Iterable

from ebr.core.errors import PermissionDenied, SignatureError


class AuthenticationFailed(SignatureError):
    """The user id and password were not accepted."""


class UnknownUser(AuthenticationFailed):
    """No user with this id exists."""


class WrongPassword(AuthenticationFailed):
    """The password does not match the user's."""


class CredentialsRefused(UnknownUser, WrongPassword):
    """The one answer to a refused user id and password: it does not say which was wrong.

    It is both an :class:`UnknownUser` and a :class:`WrongPassword` (the caller cannot tell
    which, and neither can an attacker). The audit event keeps the real reason.
    """

    MESSAGE = (
        "the user id or password is not accepted; check both and try again "
        "(repeated failures lock the account, and an administrator unlocks it)"
    )

    def __init__(self, message: str = MESSAGE) -> None:
        super().__init__(message)


class TooManyAttempts(SignatureError):
    """Too many failed attempts from this client or for this user id; ``retry_after`` in seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        self.retry_after = max(1, retry_after)
        super().__init__(message)


class AccountLocked(SignatureError):
    """The account is locked after repeated failures; only an admin can unlock it."""


class AccountDisabled(SignatureError):
    """The account has been deactivated."""


class PasswordExpired(SignatureError):
    """The password has passed its maximum age or must be changed (first login, admin reset)."""


class PasswordRejected(SignatureError):
    """A new password does not satisfy the password policy; ``problems`` lists why."""

    def __init__(self, message: str, problems: Iterable[str] = ()) -> None:
        self.problems = list(problems)
        full = message if not self.problems else message + ": " + "; ".join(self.problems)
        super().__init__(full)


class SegregationOfDuties(SignatureError):
    """The signer is excluded from signing this record (performer, author, participant)."""


class AccountabilityNotAccepted(SignatureError):
    """The user has not yet accepted the electronic signature accountability statement.

    ``user_id`` names whose statement is missing: with a co-signer (a verifier, a trainee) it
    is not the person signed in, who cannot accept it for them.
    """

    def __init__(self, message: str, user_id: str | None = None) -> None:
        super().__init__(message)
        self.user_id = user_id


class IdentityNotVerified(SignatureError):
    """No administrator has yet recorded that the person's identity was verified (11.100(b))."""


class DirectoryUnavailable(SignatureError):
    """The LDAP directory cannot be reached; no one logs in with stale credentials."""


class SessionExpired(SignatureError):
    """The web session ended; log in again."""


class NotPermitted(PermissionDenied, SignatureError):
    """The user's roles do not allow the action."""
