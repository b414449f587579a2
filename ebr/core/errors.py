"""One exception tree for the whole system.

::

    EbrError                      root: every error we raise on purpose
    ├── ConfigError               a setting is missing or malformed
    ├── DatabaseError             the database cannot be reached or used
    │   └── SchemaMismatch        the schema is not at the migration head
    ├── ValidationError           input rejected; ``problems`` lists every reason
    │   └── AlreadyExists         a unique code or number given is taken
    ├── NotFound                  the thing asked for does not exist
    ├── Conflict                  a concurrent change won (stale version)
    ├── PermissionDenied          the user's roles do not allow the action
    ├── StateError                a command is not allowed in the current state
    ├── AuditError                (audit/) the trail cannot be written or read
    ├── SignatureError            (signatures/) authentication or signing refused
    ├── RecipeError               (recipes/) recipe rules violated
    └── EquipmentError            (equipment/) plant model or driver failures

Every message says what was wrong and what to do. Only the web layer maps these
classes to HTTP statuses (``ebr.web.errors``); the CLI prints the message and
exits non-zero, never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable


class EbrError(Exception):
    """Root of every error the system raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(EbrError):
    """A configuration value is missing or malformed."""


class DatabaseError(EbrError):
    """The database cannot be reached or used."""


class SchemaMismatch(DatabaseError):
    """The database schema is not at the migration head."""


class ValidationError(EbrError):
    """Input was rejected. ``problems`` lists every reason, each with its path."""

    def __init__(self, message: str, problems: Iterable[str] = ()) -> None:
        self.problems = list(problems)
        full = message if not self.problems else message + "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(full)
        self.summary = message


class AlreadyExists(ValidationError):
    """The code or number given for a new record is taken.

    To a person it is bad input (choose another); to a caller that looked for the record
    in the same transaction and found none, it means a concurrent writer won the race.
    """


class NotFound(EbrError):
    """The requested object does not exist."""


class Conflict(EbrError):
    """Someone else changed the record first; reload and try again."""


class PermissionDenied(EbrError):
    """The acting user's roles do not allow this action."""


class StateError(EbrError):
    """A command is not allowed in the current state."""


class AuditError(EbrError):
    """Root of the audit package's errors."""


class SignatureError(EbrError):
    """Root of the signatures package's errors (authentication and signing)."""


class RecipeError(EbrError):
    """Root of the recipes package's errors."""


class EquipmentError(EbrError):
    """Root of the equipment package's errors."""
