"""Installation qualification (IQ): is the system installed and configured as specified?

Each check returns a :class:`CheckResult` whose findings say what was checked
and, on failure, what is wrong and how to fix it. The checks only read (the
checkpoint directory check writes and removes one probe file): an IQ never
changes the installation it qualifies.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import stat
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

import ebr
from audit.keys import load_system_key, system_key_path
from audit.models import AuditSystemKey
from ebr import schema
from ebr.core.config import Settings
from ebr.core.errors import AuditError
from signatures.models import UserAccount
from signatures.permissions import conflicts

DISTRIBUTION = "ebr-system"
# The packages of the distribution whose code the IQ lists and checks.
PACKAGES = ("ebr", "audit", "signatures", "equipment", "recipes", "validation", "migrations")
MIN_SECRET_KEY_LENGTH = 32
_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*==\s*([^\s;]+)\s*(?:;(.*))?$")


@dataclass(frozen=True)
class CheckResult:
    """One IQ check: an id for the report, a title, the verdict and what was found."""

    id: str
    title: str
    passed: bool
    findings: tuple[str, ...]


@dataclass(frozen=True)
class FileChecksum:
    """The sha256 of one installed file; ``recorded`` compares it with the installation record."""

    path: str
    sha256: str
    recorded: bool | None  # None: the installer recorded no hash (editable install)


@dataclass(frozen=True)
class IqResult:
    """Every IQ check and the checksum listing of the installed code."""

    checks: tuple[CheckResult, ...]
    checksums: tuple[FileChecksum, ...]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pins(lines: Iterable[str]) -> dict[str, tuple[str, str]]:
    """``{normalized name: (version, marker)}`` for every ``name==version`` line."""
    pins: dict[str, tuple[str, str]] = {}
    for line in lines:
        match = _PIN.match(line.split("#", 1)[0])
        if match:
            pins[_normalize(match.group(1))] = (match.group(3), (match.group(4) or "").strip())
    return pins


def default_constraints() -> Path | None:
    """``constraints.txt`` next to the installed code (a checkout or editable install), if present."""
    candidate = Path(ebr.__file__).resolve().parents[1] / "constraints.txt"
    return candidate if candidate.is_file() else None


def pinned_versions(constraints: Path | None) -> tuple[dict[str, str], dict[str, str]]:
    """``(required, optional)`` pins: the distribution's own exact pins and the test extra are required
    (the OQ needs pytest); ``constraints.txt`` pins the rest, checked when installed."""
    own = parse_pins(metadata.requires(DISTRIBUTION) or [])
    required = {name: v for name, (v, marker) in own.items() if not marker or "'test'" in marker or '"test"' in marker}
    optional = {name: v for name, (v, marker) in own.items() if name not in required}
    if constraints is not None:
        for name, (version, _marker) in parse_pins(constraints.read_text(encoding="utf-8").splitlines()).items():
            optional.setdefault(name, version)
    for name in required:
        optional.pop(name, None)
    return required, optional


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def check_packages(required: Mapping[str, str], optional: Mapping[str, str]) -> CheckResult:
    """Installed versions equal the pinned ones; a required package must be installed."""
    findings: list[str] = []
    bad = 0
    for name, wanted in sorted({**optional, **required}.items()):
        found = _installed(name)
        if found is None and name in required:
            bad += 1
            findings.append(f"FAIL {name}: not installed, pinned {wanted}; run scripts/bootstrap.sh")
        elif found is None:
            findings.append(f"{name}: not installed (optional), pinned {wanted}")
        elif found != wanted:
            bad += 1
            findings.append(f"FAIL {name}: installed {found}, pinned {wanted}; reinstall with -c constraints.txt")
        else:
            findings.append(f"{name} {found}")
    summary = f"{len(required)} required and {len(optional)} constrained pins checked, {bad} wrong"
    return CheckResult("IQ-01", "Installed package versions match the pinned set", bad == 0, (summary, *findings))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def check_configuration(settings: Settings) -> CheckResult:
    """The secret key is set and strong enough; the data directory exists and is private (0700)."""
    findings: list[str] = []
    ok = True
    if not settings.secret_key:
        ok = False
        findings.append("FAIL EBR_SECRET_KEY is not set; set it to 64 random hex digits (see README)")
    elif len(settings.secret_key) < MIN_SECRET_KEY_LENGTH:
        ok = False
        findings.append(f"FAIL EBR_SECRET_KEY has {len(settings.secret_key)} characters; use at least 32 random ones")
    else:
        findings.append(f"EBR_SECRET_KEY set ({len(settings.secret_key)} characters, value not shown)")
    data_dir = settings.data_dir
    if not data_dir.is_dir():
        ok = False
        findings.append(f"FAIL data directory {data_dir} does not exist; run `ebr init`")
    elif _mode(data_dir) & 0o077:
        ok = False
        findings.append(f"FAIL data directory {data_dir} has mode {_mode(data_dir):04o}; run `chmod 700 {data_dir}`")
    else:
        findings.append(f"data directory {data_dir} mode {_mode(data_dir):04o}")
    return CheckResult("IQ-02", "Configuration: secret key and data directory", ok, tuple(findings))


def _registration(engine: Engine, key_id: str) -> str | None:
    """None when ``key_id`` is a current key in ``audit_system_key``, else the problem."""
    try:
        with Session(engine) as session:
            row = session.get(AuditSystemKey, key_id)
    except SQLAlchemyError as exc:
        return f"cannot read the registered system keys: {exc.__class__.__name__}; check the database"
    if row is None:
        return f"system key {key_id} is not registered in the database; run `ebr init`"
    if row.valid_to is not None:
        return f"system key {key_id} was retired at {row.valid_to:%Y-%m-%d %H:%M:%S %Z}; install the current key"
    return None


def check_system_key(settings: Settings, engine: Engine) -> CheckResult:
    """The installation's private system key exists, is mode 0600, loads, and is the registered current key."""
    title = "System key present with mode 0600"
    path = system_key_path(settings.keys_dir)
    if not path.is_file():
        return CheckResult("IQ-03", title, False, (f"FAIL no system key at {path}; run `ebr init` to create it",))
    findings = [f"{path} mode {_mode(path):04o}"]
    ok = not _mode(path) & 0o177
    if not ok:
        findings.append(f"FAIL {path} has mode {_mode(path):04o}; run `chmod 600 {path}`")
    try:
        key = load_system_key(settings.keys_dir)
    except AuditError as exc:
        return CheckResult("IQ-03", title, False, (*findings, f"FAIL {exc}"))
    assert key is not None  # the file exists, checked above
    problem = _registration(engine, key.key_id)
    findings.append(f"key id {key.key_id}" if problem is None else f"FAIL {problem}")
    return CheckResult("IQ-03", title, ok and problem is None, tuple(findings))


def check_schema(engine: Engine) -> CheckResult:
    """The database is reachable and at the migration head of every package branch."""
    state = schema.status(engine)
    described = state.describe() if state.at_head else f"FAIL {state.describe()}"
    findings = [described, "expected heads: " + ", ".join(sorted(state.heads))]
    return CheckResult("IQ-04", "Database schema at the migration head", state.at_head, tuple(findings))


def check_checkpoint_log(settings: Settings) -> CheckResult:
    """The external checkpoint log directory exists and accepts a new file."""
    where = settings.checkpoint_log_dir
    title = "External checkpoint log directory reachable"
    if not where.is_dir():
        problem = (
            f"FAIL {where} is not a directory; mount the external log there or set EBR_CHECKPOINT_LOG_DIR "
            "(a log inside the data directory appears with the first `ebr audit checkpoint`)"
        )
        return CheckResult("IQ-05", title, False, (problem,))
    try:
        # A real write, not os.access: a read-only or stale network mount passes access() checks.
        with tempfile.NamedTemporaryFile(dir=where, prefix=".iq-probe-"):
            pass
    except OSError as exc:
        return CheckResult(
            "IQ-05", title, False, (f"FAIL cannot write to {where}: {exc.strerror}; fix its permissions",)
        )
    return CheckResult("IQ-05", title, True, (f"{where} is writable",))


def _recorded_hashes() -> dict[str, str]:
    """Hex sha256 per installed path as the installer recorded it (empty for editable installs)."""
    try:
        files = metadata.distribution(DISTRIBUTION).files or []
    except metadata.PackageNotFoundError:
        return {}
    recorded: dict[str, str] = {}
    for file in files:
        if file.hash is not None and file.hash.mode == "sha256":
            raw = base64.urlsafe_b64decode(file.hash.value + "=" * (-len(file.hash.value) % 4))
            recorded[str(file).replace(os.sep, "/")] = raw.hex()
    return recorded


def code_checksums(packages: Iterable[str] = PACKAGES) -> tuple[FileChecksum, ...]:
    """sha256 of every ``.py`` file of the installed packages, sorted by path."""
    root = Path(ebr.__file__).resolve().parents[1]
    recorded = _recorded_hashes()
    sums: list[FileChecksum] = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            expected = recorded.get(relative)
            sums.append(FileChecksum(relative, digest, None if expected is None else expected == digest))
    return tuple(sums)


def check_code(checksums: tuple[FileChecksum, ...]) -> CheckResult:
    """Every installed file with a recorded hash still has it; all files are listed in the report."""
    changed = [c.path for c in checksums if c.recorded is False]
    verified = sum(1 for c in checksums if c.recorded)
    combined = hashlib.sha256("".join(f"{c.path}\0{c.sha256}\n" for c in checksums).encode()).hexdigest()
    findings = [
        f"{len(checksums)} Python files listed in the appendix; combined sha256 {combined}",
        f"{verified} verified against the installation record"
        + ("" if verified else " (editable install: no record; compare the listing with the released one)"),
    ]
    findings += [f"FAIL {path} differs from the installed version; reinstall the release" for path in changed]
    return CheckResult("IQ-06", "Checksums of the installed code", not changed, tuple(findings))


def check_role_segregation(engine: Engine) -> CheckResult:
    """No active user holds roles one person may not combine (admin with a GMP role)."""
    title = "Segregation of duties: no user holds incompatible roles"
    try:
        with Session(engine) as session:
            rows = session.scalars(
                select(UserAccount).where(UserAccount.active.is_(True)).order_by(UserAccount.user_id)
            ).all()
    except SQLAlchemyError as exc:
        return CheckResult("IQ-07", title, False, (f"FAIL cannot read the users: {exc.__class__.__name__}",))
    findings = [
        f"FAIL user {row.user_id!r} holds {clash}; remove one of the roles: "
        f"`ebr user roles {row.user_id} --role ... --reason ...` or the Users page"
        for row in rows
        for clash in conflicts(row.roles.split())
    ]
    ok = not findings
    if ok:
        findings.append(f"{len(rows)} active user(s) checked; none holds incompatible roles")
    return CheckResult("IQ-07", title, ok, tuple(findings))


def run_iq(settings: Settings, engine: Engine, *, constraints: Path | None = None) -> IqResult:
    """Run every IQ check against ``settings`` and ``engine``."""
    required, optional = pinned_versions(constraints if constraints is not None else default_constraints())
    checksums = code_checksums()
    checks = (
        check_packages(required, optional),
        check_configuration(settings),
        check_system_key(settings, engine),
        check_schema(engine),
        check_checkpoint_log(settings),
        check_code(checksums),
        check_role_segregation(engine),
    )
    return IqResult(checks=checks, checksums=checksums)
