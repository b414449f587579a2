"""Password policy and hashing (pure, no database).

Hashes are Argon2id in the PHC string format (salted, memory-hard; 21 CFR 11.300).
The policy is configurable: minimum length, character classes, history, maximum age.
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
import string
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP's baseline for Argon2id: 19 MiB, 2 passes, 1 lane (≈ 17 ms here).
DEFAULT_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


@dataclass(frozen=True)
class PasswordPolicy:
    """What a new password must satisfy."""

    min_length: int = 12
    min_classes: int = 3
    history: int = 5
    max_age_days: int = 90

    def problems(self, password: str, *, user_id: str) -> list[str]:
        """Every rule ``password`` breaks (empty when it is acceptable)."""
        found = []
        if len(password) < self.min_length:
            found.append(f"it has {len(password)} characters, at least {self.min_length} are required")
        classes = sum(
            any(test(c) for c in password)
            for test in (str.islower, str.isupper, str.isdigit, lambda c: not c.isalnum())
        )
        if classes < self.min_classes:
            found.append(
                f"it uses {classes} kind(s) of character; use at least {self.min_classes} of "
                "lower case, upper case, digits and symbols"
            )
        if user_id and user_id.lower() in password.lower():
            found.append("it contains the user id")
        return found

    def expires_at(self, changed_at: dt.datetime | None) -> dt.datetime | None:
        """When a password set at ``changed_at`` expires (None: never set)."""
        return None if changed_at is None else changed_at + dt.timedelta(days=self.max_age_days)


def hash_password(password: str, hasher: PasswordHasher = DEFAULT_HASHER) -> str:
    return hasher.hash(password)


@functools.cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    return hasher.hash(secrets.token_urlsafe(24))


def dummy_check(password: str, hasher: PasswordHasher = DEFAULT_HASHER) -> bool:
    """The same Argon2id work as a real check, against a hash nobody knows; always False.

    For a user id that does not exist (or has no password), so the answer takes as long
    as for a known user with a wrong password: timing tells nothing.
    """
    check_password(_dummy_hash(hasher), password, hasher)
    return False


def check_password(stored: str | None, password: str, hasher: PasswordHasher = DEFAULT_HASHER) -> bool:
    """True when ``password`` matches the stored Argon2id hash (no hash: the same work, False)."""
    if not stored:
        return dummy_check(password, hasher)
    try:
        return hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def one_time_password() -> str:
    """A random password that satisfies the default policy (shown once, must be changed)."""
    alphabet = string.ascii_letters + string.digits
    body = "".join(secrets.choice(alphabet) for _ in range(16))
    return f"{body[:8]}-{body[8:]}-{secrets.choice(string.digits)}a"
