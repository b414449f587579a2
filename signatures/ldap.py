"""LDAP directory authentication with ldap3 (the only module that imports ldap3).

A user is found by an anonymous search under ``EBR_LDAP_USER_BASE`` with
``EBR_LDAP_USER_FILTER``, then authenticated by binding as that entry with the
password given. Groups under ``EBR_LDAP_GROUP_BASE`` that list the user (``member``,
``uniqueMember`` or ``memberUid``) map to roles via ``EBR_LDAP_ROLE_MAP``.
``ldaps://`` URLs and StartTLS verify the server certificate (``EBR_LDAP_CA_FILE``).
An unreachable directory is an error: nobody logs in or signs with stale credentials.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from ebr.config import Settings
from ebr.errors import ConfigError
from signatures.directory import DirectoryUser
from signatures.errors import DirectoryUnavailable, UnknownUser, WrongPassword
from signatures.permissions import Role

INVALID_CREDENTIALS = 49


def _norm_dn(dn: str) -> str:
    return ",".join(part.strip() for part in dn.lower().split(","))


class LdapDirectory:
    """Authenticates users against an LDAP directory by binding as them."""

    def __init__(
        self,
        *,
        url: str,
        user_base: str,
        user_filter: str = "(uid={username})",
        group_base: str | None = None,
        role_map: Mapping[str, str] | None = None,
        start_tls: bool = False,
        ca_file: str | None = None,
        timeout: int = 5,
    ) -> None:
        bad = [role for role in (role_map or {}).values() if role not in {r.value for r in Role}]
        if bad:
            raise ConfigError(f"EBR_LDAP_ROLE_MAP names unknown role(s) {bad}; use: {', '.join(r for r in Role)}")
        if "{username}" not in user_filter:
            raise ConfigError(
                f"EBR_LDAP_USER_FILTER={user_filter!r} must contain {{username}}, e.g. (uid={{username}})"
            )
        self.url = url
        self.user_base = user_base
        self.user_filter = user_filter
        self.group_base = group_base
        self.role_map = {_norm_dn(dn): role for dn, role in (role_map or {}).items()}
        self.start_tls = start_tls
        self.ca_file = ca_file
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> LdapDirectory:
        if not settings.ldap_url or not settings.ldap_user_base:
            raise ConfigError("EBR_LDAP_URL needs EBR_LDAP_USER_BASE (e.g. ou=people,dc=plant,dc=example)")
        return cls(
            url=settings.ldap_url,
            user_base=settings.ldap_user_base,
            user_filter=settings.ldap_user_filter,
            group_base=settings.ldap_group_base,
            role_map=settings.ldap_role_map,
            start_tls=settings.ldap_start_tls,
            ca_file=settings.ldap_ca_file,
        )

    def _connection(self, user: str | None = None, password: str | None = None) -> ldap3.Connection:
        secure = self.url.lower().startswith("ldaps://") or self.start_tls
        tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=self.ca_file) if secure else None
        server = ldap3.Server(self.url, tls=tls, connect_timeout=self.timeout, get_info=ldap3.NONE)
        conn = ldap3.Connection(
            server, user=user, password=password, receive_timeout=self.timeout, read_only=True, raise_exceptions=False
        )
        try:
            conn.open()
            if self.start_tls and not conn.start_tls():
                raise DirectoryUnavailable(f"StartTLS with {self.url} failed: {conn.result.get('description')}")
        except BaseException:
            conn.unbind()  # close the socket even when TLS or the open failed half-way
            raise
        return conn

    def authenticate(self, user_id: str, password: str) -> DirectoryUser:
        """Bind as ``user_id`` with ``password``; return name and roles from the directory."""
        if not password:
            # An empty password is an "unauthenticated bind" that LDAP servers accept.
            raise WrongPassword(f"wrong password for {user_id!r}: a password is required")
        try:
            dn, entry = self._find(user_id)
            return self._bind_and_read(user_id, dn, entry, password)
        except LDAPException as exc:
            raise DirectoryUnavailable(
                f"the directory {self.url} cannot be reached or answered with an error ({exc}); "
                "login and signing are refused until it is back; try again or call IT"
            ) from exc

    def _find(self, user_id: str) -> tuple[str, dict[str, Any]]:
        conn = self._connection()
        try:
            if not conn.bind():
                raise DirectoryUnavailable(f"the directory {self.url} refused the search bind: {conn.result}")
            search = self.user_filter.format(username=escape_filter_chars(user_id))
            conn.search(self.user_base, search, ldap3.SUBTREE, attributes=["cn", "displayName"], size_limit=2)
            entries = list(conn.response or [])
        finally:
            conn.unbind()
        found = [e for e in entries if e.get("type") == "searchResEntry"]
        if not found:
            raise UnknownUser(f"unknown user {user_id!r}: not found in the directory under {self.user_base}")
        return found[0]["dn"], found[0].get("attributes", {})

    def _bind_and_read(self, user_id: str, dn: str, entry: Mapping[str, Any], password: str) -> DirectoryUser:
        conn = self._connection(dn, password)
        try:
            if not conn.bind():
                if conn.result.get("result") == INVALID_CREDENTIALS:
                    raise WrongPassword(
                        f"wrong password for {user_id!r} (directory); type it again "
                        "(repeated failures lock the account)"
                    )
                raise DirectoryUnavailable(
                    f"the directory refused the bind of {user_id!r}: {conn.result.get('message')}"
                )
            groups = self._groups(conn, dn, user_id)
        finally:
            conn.unbind()
        name = _first(entry.get("displayName")) or _first(entry.get("cn")) or user_id
        roles = tuple(sorted({self.role_map[g] for g in groups if g in self.role_map}))
        return DirectoryUser(user_id=user_id, full_name=name, roles=roles, dn=dn)

    def _groups(self, conn: ldap3.Connection, dn: str, user_id: str) -> set[str]:
        if not self.group_base:
            return set()
        d, u = escape_filter_chars(dn), escape_filter_chars(user_id)
        conn.search(self.group_base, f"(|(member={d})(uniqueMember={d})(memberUid={u}))", ldap3.SUBTREE, attributes=[])
        return {_norm_dn(e["dn"]) for e in conn.response or [] if e.get("type") == "searchResEntry"}


def _first(value: Any) -> str | None:
    if isinstance(value, list | tuple):
        return str(value[0]) if value else None
    return None if value is None else str(value)
