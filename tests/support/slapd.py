"""A real OpenLDAP ``slapd`` for the tests: own config, own users and groups, a free port.

The server is configured from scratch in a temporary folder (``cn=config`` loaded
with ``slapadd``), with a self-signed CA so LDAPS and StartTLS can be tested, and
started on free 127.0.0.1 ports. Like most corporate directories it refuses
anonymous reads (only bound users read; the EBR finds users through the service
account :data:`SERVICE_DN`), and like Active Directory it keeps ``memberOf`` on every
member (the memberof overlay), including groups nested in other groups. ``slapd``
drops to the ``openldap`` user when run as root, so the folder (under /tmp, not pytest's 0700 tree) is made traversable.
A missing ``slapd`` skips locally and fails in CI (:func:`tests.support.components.missing`).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.components import missing

SUFFIX = "dc=ebr,dc=test"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PW = "slapd-root-secret"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
SERVICES = f"ou=services,{SUFFIX}"
SERVICE_DN = f"cn=ebr-service,{SERVICES}"
SERVICE_PW = "Service-Account-Secret-77"
SCHEMAS = ("core", "cosine", "nis", "inetorgperson")

# uid, printed name, password, groups
USERS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("lena", "Lena Ldap", "Directory-Pass-11", ("operators",)),
    ("quentin", "Quentin Quality", "Directory-Pass-22", ("qa", "operators")),
    ("nogroup", "Norbert Nogroup", "Directory-Pass-33", ()),
    ("nina", "Nina Nested", "Directory-Pass-44", ("qa-lab",)),  # qa only through qa-lab ⊂ qa
    ("adam", "Adam Admin-Qa", "Directory-Pass-55", ("admins", "qa")),  # incompatible groups
)
# Groups in creation order (a nested group before the group that contains it).
GROUP_NAMES = ("operators", "qa-lab", "qa", "admins")
NESTED = {"qa": ("qa-lab",)}
ROLE_MAP = {f"cn=operators,{GROUPS}": "operator", f"cn=qa,{GROUPS}": "qa", f"cn=admins,{GROUPS}": "admin"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cert(root: Path) -> Path:
    """A CA and a server certificate for 127.0.0.1 / localhost; returns the CA file."""
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "EBR test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    (root / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (root / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    (root / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    return root / "ca.pem"


def _config(root: Path) -> str:
    schemas = "\n".join(Path(f"/etc/ldap/schema/{name}.ldif").read_text() for name in SCHEMAS)
    return f"""dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {root}/slapd.pid
olcTLSCACertificateFile: {root}/ca.pem
olcTLSCertificateFile: {root}/server.pem
olcTLSCertificateKeyFile: {root}/server.key

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: memberof

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

{schemas}

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {SUFFIX}
olcDbDirectory: {root}/data
olcRootDN: {ROOT_DN}
olcRootPW: {ROOT_PW}
olcAccess: {{0}}to attrs=userPassword by self write by anonymous auth by * none
olcAccess: {{1}}to * by users read by * none

dn: olcOverlay={{0}}memberof,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOf
olcOverlay: {{0}}memberof
olcMemberOfGroupOC: groupOfNames
olcMemberOfMemberAD: member
olcMemberOfMemberOfAD: memberOf
olcMemberOfRefInt: TRUE
"""


def _data() -> str:
    entries = [
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: EBR test\ndc: ebr",
        f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people",
        f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups",
        f"dn: {SERVICES}\nobjectClass: organizationalUnit\nou: services",
        f"dn: {SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
        f"cn: ebr-service\nuserPassword: {SERVICE_PW}",
    ]
    for uid, name, password, _ in USERS:
        entries.append(
            f"dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {name}\n"
            f"sn: {name.split()[-1]}\ndisplayName: {name}\nuserPassword: {password}"
        )
    return "\n\n".join(entries) + "\n"


def _groups() -> list[tuple[str, dict[str, object]]]:
    """The groups, added through the running server so the memberof overlay writes ``memberOf``."""
    result = []
    for group in GROUP_NAMES:
        members = [f"uid={uid},{PEOPLE}" for uid, _, _, groups in USERS if group in groups]
        members += [f"cn={inner},{GROUPS}" for inner in NESTED.get(group, ())]
        result.append((f"cn={group},{GROUPS}", {"objectClass": ["groupOfNames"], "cn": group, "member": members}))
    return result


class Slapd:
    """One running slapd; ``url`` (plain, StartTLS-capable) and ``ldaps_url``."""

    def __init__(self) -> None:
        slapd = shutil.which("slapd") or ("/usr/sbin/slapd" if Path("/usr/sbin/slapd").exists() else None)
        slapadd = shutil.which("slapadd") or ("/usr/sbin/slapadd" if Path("/usr/sbin/slapadd").exists() else None)
        if slapd is None or slapadd is None:
            missing("slapd", "install the Debian packages slapd and ldap-utils (make test does it as root)")
            raise AssertionError("unreachable")
        self.slapd, self.slapadd = slapd, slapadd
        self.root = Path(tempfile.mkdtemp(prefix="ebr-slapd-"))
        self.port, self.tls_port = free_port(), free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        self.ldaps_url = f"ldaps://127.0.0.1:{self.tls_port}"
        self.ca_file = str(self.root / "ca.pem")

    def start(self) -> Slapd:
        root = self.root
        # slapd runs as openldap: it must traverse the folder and own its files.
        root.chmod(0o755)
        (root / "data").mkdir()
        (root / "slapd.d").mkdir()
        _cert(root)
        (root / "config.ldif").write_text(_config(root))
        (root / "data.ldif").write_text(_data())
        self._run([self.slapadd, "-n", "0", "-F", str(root / "slapd.d"), "-l", str(root / "config.ldif")])
        self._run([self.slapadd, "-n", "1", "-F", str(root / "slapd.d"), "-l", str(root / "data.ldif")])
        command = [self.slapd, "-h", f"{self.url}/ {self.ldaps_url}/", "-F", str(root / "slapd.d")]
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", "openldap:openldap", str(root)], check=True)
            command += ["-u", "openldap", "-g", "openldap"]
        self._run(command)
        self._wait()
        conn = self._admin()
        try:
            for dn, attributes in _groups():
                conn.add(dn, attributes=attributes)
                assert conn.result["result"] == 0, conn.result
        finally:
            conn.unbind()
        return self

    def _admin(self) -> Any:
        import ldap3

        return ldap3.Connection(ldap3.Server(self.url), user=ROOT_DN, password=ROOT_PW, auto_bind=True)

    def _run(self, command: list[str]) -> None:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}")

    def _wait(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"slapd did not answer on {self.url} within 10 s")

    def pid(self) -> int | None:
        pid_file = self.root / "slapd.pid"
        return int(pid_file.read_text().strip()) if pid_file.exists() else None

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    os.kill(pid, 0)
                    time.sleep(0.05)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)

    def set_member(self, group: str, uid: str, *, member: bool) -> None:
        """Add ``uid`` to, or remove it from, ``group`` (as the directory's administrator)."""
        import ldap3

        change = ldap3.MODIFY_ADD if member else ldap3.MODIFY_DELETE
        conn = self._admin()
        try:
            conn.modify(f"cn={group},{GROUPS}", {"member": [(change, [f"uid={uid},{PEOPLE}"])]})
            assert conn.result["result"] == 0, conn.result
        finally:
            conn.unbind()

    def set_password(self, uid: str, password: str) -> None:
        """Change a user's password in the directory (as the directory's administrator)."""
        import ldap3

        conn = self._admin()
        try:
            conn.modify(f"uid={uid},{PEOPLE}", {"userPassword": [(ldap3.MODIFY_REPLACE, [password])]})
            assert conn.result["result"] == 0, conn.result
        finally:
            conn.unbind()
