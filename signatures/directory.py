"""The directory interface (LDAP is one implementation: :mod:`signatures.ldap`). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class DirectoryUser:
    """Who the directory says the user is, after a successful bind."""

    user_id: str
    full_name: str
    roles: tuple[str, ...]
    dn: str = ""


class Directory(Protocol):
    """Authenticates a user id and password against an external directory."""

    def authenticate(self, user_id: str, password: str) -> DirectoryUser:
        """Return the user on success; raise UnknownUser, WrongPassword or DirectoryUnavailable."""
        ...
