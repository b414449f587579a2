"""LDAP and Active Directory authentication with ldap3 (the only module that imports ldap3).

Finding the user, one of two ways:

* **search** (default): bind as the service account ``EBR_LDAP_BIND_DN`` (most
  directories refuse anonymous reads; without a bind DN the search is anonymous),
  search ``EBR_LDAP_USER_BASE`` with ``EBR_LDAP_USER_FILTER`` (Active Directory:
  ``(sAMAccountName={username})`` or ``(userPrincipalName={username})``), then bind as
  the entry found with the user's password;
* **DN template** ``EBR_LDAP_USER_DN_TEMPLATE`` (``uid={username},ou=people,dc=x``): no
  search, bind as that DN at once.

Groups (``EBR_LDAP_GROUP_MODE``): ``search`` looks under ``EBR_LDAP_GROUP_BASE`` for
groups naming the user (``member``, ``uniqueMember``, ``memberUid``); ``memberof`` reads
the user's ``memberOf`` and follows nested groups through their own ``memberOf``
(OpenLDAP's memberof overlay, Active Directory); ``in_chain`` asks Active Directory for
every group that contains the user directly or through nesting
(``LDAP_MATCHING_RULE_IN_CHAIN``, 1.2.840.113556.1.4.1941) in one search. Group DNs map
to roles with ``EBR_LDAP_ROLE_MAP``.

``ldaps://`` URLs and StartTLS verify the server certificate (``EBR_LDAP_CA_FILE``).
An unreachable directory is an error: nobody logs in or signs with stale credentials.
The service account's password is never logged or put in a message. An id the
directory does not know costs a bind like a wrong password does, so timing tells
nothing.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import ssl
from collections.abc import Mapping
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from ebr.core.config import Settings
from ebr.core.errors import ConfigError
from signatures.directory import DirectoryUser
from signatures.errors import DirectoryUnavailable, UnknownUser, WrongPassword
from signatures.permissions import Role

log = logging.getLogger(__name__)

INVALID_CREDENTIALS = 49
IN_CHAIN = "1.2.840.113556.1.4.1941"
GROUP_MODES = ("search", "memberof", "in_chain")
MAX_NESTING = 10
USER_ATTRIBUTES = ["cn", "displayName", "memberOf"]


def _norm_dn(dn: str) -> str:
    return ",".join(part.strip() for part in dn.lower().split(","))


class LdapDirectory:
    """Authenticates users against an LDAP directory (or Active Directory) by binding as them."""

    def __init__(
        self,
        *,
        url: str,
        user_base: str | None,
        user_filter: str = "(uid={username})",
        group_base: str | None = None,
        role_map: Mapping[str, str] | None = None,
        start_tls: bool = False,
        ca_file: str | None = None,
        timeout: int = 5,
        bind_dn: str | None = None,
        bind_password: str | None = None,
        user_dn_template: str | None = None,
        group_mode: str = "search",
    ) -> None:
        bad = [role for role in (role_map or {}).values() if role not in {r.value for r in Role}]
        if bad:
            raise ConfigError(f"EBR_LDAP_ROLE_MAP names unknown role(s) {bad}; use: {', '.join(r for r in Role)}")
        if "{username}" not in user_filter:
            raise ConfigError(
                f"EBR_LDAP_USER_FILTER={user_filter!r} must contain {{username}}, e.g. (uid={{username}})"
            )
        if group_mode not in GROUP_MODES:
            raise ConfigError(f"EBR_LDAP_GROUP_MODE={group_mode!r} must be one of: {', '.join(GROUP_MODES)}")
        if group_mode != "memberof" and not group_base:
            raise ConfigError(f"EBR_LDAP_GROUP_MODE={group_mode} needs EBR_LDAP_GROUP_BASE (e.g. ou=groups,dc=x)")
        if user_dn_template is None and not user_base:
            raise ConfigError("EBR_LDAP_URL needs EBR_LDAP_USER_BASE (or EBR_LDAP_USER_DN_TEMPLATE)")
        self.url = url
        self.user_base = user_base or ""
        self.user_filter = user_filter
        self.group_base = group_base
        self.role_map = {_norm_dn(dn): role for dn, role in (role_map or {}).items()}
        self.start_tls = start_tls
        self.ca_file = ca_file
        self.timeout = timeout
        self.bind_dn = bind_dn
        self._bind_password = bind_password
        self.user_dn_template = user_dn_template
        self.group_mode = group_mode

    def __repr__(self) -> str:  # the service account's password stays out of logs and tracebacks
        return f"LdapDirectory(url={self.url!r}, bind_dn={self.bind_dn!r}, group_mode={self.group_mode!r})"

    @classmethod
    def from_settings(cls, settings: Settings) -> LdapDirectory:
        if not settings.ldap_url:
            raise ConfigError("EBR_LDAP_URL is not set")
        return cls(
            url=settings.ldap_url,
            user_base=settings.ldap_user_base,
            user_filter=settings.ldap_user_filter,
            group_base=settings.ldap_group_base,
            role_map=settings.ldap_role_map,
            start_tls=settings.ldap_start_tls,
            ca_file=settings.ldap_ca_file,
            bind_dn=settings.ldap_bind_dn,
            bind_password=settings.ldap_bind_password,
            user_dn_template=settings.ldap_user_dn_template,
            group_mode=settings.ldap_group_mode,
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
            # ldap3 keeps the socket of a failed connect() and unbind() skips a connection that
            # never opened: close it here, or every attempt on an unreachable directory leaks one.
            sock = getattr(conn, "socket", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()
            raise
        return conn

    def authenticate(self, user_id: str, password: str) -> DirectoryUser:
        """Bind as ``user_id`` with ``password``; return name and roles from the directory.

        Raises UnknownUser, WrongPassword or DirectoryUnavailable.
        """
        if not password:
            # An empty password is an "unauthenticated bind" that LDAP servers accept.
            raise WrongPassword(f"wrong password for {user_id!r}: a password is required")
        try:
            if self.user_dn_template is not None:
                dn = self.user_dn_template.format(username=escape_rdn(user_id))
                return self._bind_and_read(user_id, dn, None, password)
            dn, entry = self._find(user_id, password)
            return self._bind_and_read(user_id, dn, entry, password)
        except LDAPException as exc:
            raise DirectoryUnavailable(
                f"the directory {self.url} cannot be reached or answered with an error ({type(exc).__name__}); "
                "login and signing are refused until it is back; try again or call IT"
            ) from exc

    def _service_connection(self) -> ldap3.Connection:
        conn = self._connection(self.bind_dn, self._bind_password)
        if not conn.bind():
            result = conn.result.get("description")
            conn.unbind()
            who = f"the service account {self.bind_dn!r} (EBR_LDAP_BIND_DN)" if self.bind_dn else "an anonymous bind"
            raise DirectoryUnavailable(
                f"the directory {self.url} refused {who}: {result}; check the account and its password file"
            )
        return conn

    def _find(self, user_id: str, password: str) -> tuple[str, dict[str, Any]]:
        conn = self._service_connection()
        try:
            search = self.user_filter.format(username=escape_filter_chars(user_id))
            conn.search(self.user_base, search, ldap3.SUBTREE, attributes=USER_ATTRIBUTES, size_limit=2)
            entries = list(conn.response or [])
        finally:
            conn.unbind()
        found = [e for e in entries if e.get("type") == "searchResEntry"]
        if not found and not self.bind_dn:
            log.warning(
                "an anonymous search of %s found no entry for a login; if the directory refuses anonymous "
                "reads (Active Directory always does) set EBR_LDAP_BIND_DN and its password file",
                self.user_base,
            )
        if not found:
            # The same round trip as a wrong password: a bind to an entry that does not exist.
            conn = self._connection(f"cn=ebr-no-such-user-{secrets.token_hex(8)},{self.user_base}", password)
            try:
                conn.bind()
            finally:
                conn.unbind()
            raise UnknownUser(f"unknown user {user_id!r}: not found in the directory under {self.user_base}")
        return found[0]["dn"], found[0].get("attributes", {})

    def _bind_and_read(self, user_id: str, dn: str, entry: Mapping[str, Any] | None, password: str) -> DirectoryUser:
        conn = self._connection(dn, password)
        try:
            if not conn.bind():
                if conn.result.get("result") == INVALID_CREDENTIALS:
                    raise WrongPassword(f"wrong password for {user_id!r} (directory)")
                raise DirectoryUnavailable(
                    f"the directory refused the bind of {user_id!r}: {conn.result.get('message')}"
                )
            if entry is None:
                entry = self._read(conn, dn) or {}
            groups = self._groups(conn, dn, user_id, entry)
        finally:
            conn.unbind()
        name = _first(entry.get("displayName")) or _first(entry.get("cn")) or user_id
        roles = tuple(sorted({self.role_map[g] for g in groups if g in self.role_map}))
        return DirectoryUser(user_id=user_id, full_name=name, roles=roles, dn=dn)

    def _read(self, conn: ldap3.Connection, dn: str, attributes: list[str] | None = None) -> dict[str, Any] | None:
        conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=attributes or USER_ATTRIBUTES)
        for item in conn.response or []:
            if item.get("type") == "searchResEntry":
                return dict(item.get("attributes", {}))
        return None

    def _groups(self, conn: ldap3.Connection, dn: str, user_id: str, entry: Mapping[str, Any]) -> set[str]:
        if self.group_mode == "memberof":
            return self._nested_member_of(conn, entry)
        if not self.group_base:
            return set()
        d, u = escape_filter_chars(dn), escape_filter_chars(user_id)
        if self.group_mode == "in_chain":
            query = f"(member:{IN_CHAIN}:={d})"
        else:
            query = f"(|(member={d})(uniqueMember={d})(memberUid={u}))"
        conn.search(self.group_base, query, ldap3.SUBTREE, attributes=[])
        return {_norm_dn(e["dn"]) for e in conn.response or [] if e.get("type") == "searchResEntry"}

    def _nested_member_of(self, conn: ldap3.Connection, entry: Mapping[str, Any]) -> set[str]:
        """The user's groups from ``memberOf``, and theirs, up to :data:`MAX_NESTING` levels."""
        seen: set[str] = set()
        level = [str(g) for g in _all(entry.get("memberOf"))]
        for _ in range(MAX_NESTING):
            fresh = [g for g in level if _norm_dn(g) not in seen]
            if not fresh:
                break
            seen.update(_norm_dn(g) for g in fresh)
            level = [str(p) for g in fresh for p in _all((self._read(conn, g, ["memberOf"]) or {}).get("memberOf"))]
        return seen


def _all(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _first(value: Any) -> str | None:
    if isinstance(value, list | tuple):
        return str(value[0]) if value else None
    return None if value is None else str(value)
