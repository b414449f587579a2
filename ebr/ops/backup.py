"""``ebr backup`` and ``ebr restore``: a consistent copy of everything a restore needs.

A backup folder holds:

* ``database.sqlite`` (SQLite online backup API: a consistent copy while the system
  runs) or ``database.pgdump`` (``pg_dump --format=custom`` inside an exported
  snapshot, so the audit head written to the manifest is exactly the dumped one);
* ``keys/``: the installation's key files (``settings.keys_dir``);
* ``checkpoints/``: the external checkpoint log (``settings.checkpoint_log_dir``);
* ``manifest.json``: format, time, backend, schema revisions, audit head and the
  SHA-256 of every file.

The key files and the checkpoint log are copied *before* the database, so every
checkpoint in the copy is at or below the copied audit head.

A restore checks every checksum first, refuses a non-empty database (it never
merges), restores, and then verifies: the audit head must equal the manifest's,
and the chain with its checkpoints must verify (:mod:`ebr.ops.verification`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, inspect

from audit.trail import head
from ebr import schema
from ebr.bootstrap import Services
from ebr.core.clock import to_rfc3339
from ebr.core.errors import StateError, ValidationError
from ebr.ops import pgtools
from ebr.ops.verification import VerificationResult, verify_audit

FORMAT = "ebr-backup/1"
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite"
PG_FILE = "database.pgdump"


@dataclass
class Manifest:
    """What ``manifest.json`` records."""

    format: str
    created_at: str
    backend: str
    schema_revisions: list[str]
    audit_head_seq: int
    audit_head_hash: str
    ebr_version: str
    files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256

    def write(self, folder: Path) -> None:
        (folder / MANIFEST).write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST
        try:
            data: dict[str, Any] = json.loads(path.read_text())
            manifest = cls(**data)
        except (OSError, ValueError, TypeError) as exc:
            raise ValidationError(
                f"{path} is missing or unreadable ({exc}); is {folder} a folder written by `ebr backup`?"
            ) from exc
        if manifest.format != FORMAT:
            raise ValidationError(f"{path} has format {manifest.format!r}; this version reads {FORMAT!r}")
        return manifest


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sqlite_path(engine: Engine) -> Path:
    database = engine.url.database
    if database in (None, "", ":memory:"):
        raise ValidationError("an in-memory SQLite database cannot be backed up or restored; use a file database")
    return Path(str(database))


def _prepare_output(output: Path) -> None:
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise StateError(f"{output} exists and is not an empty folder; choose a new folder for the backup")
    output.mkdir(parents=True, exist_ok=True)
    output.chmod(0o700)  # it holds the private keys


def _copy_tree(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        target.mkdir()


def _backup_sqlite(engine: Engine, target: Path) -> tuple[int, str]:
    source = sqlite3.connect(_sqlite_path(engine))
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
        row = copy.execute("SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1").fetchone()
    finally:
        copy.close()
        source.close()
    return (0, "0" * 64) if row is None else (int(row[0]), str(row[1]))


def make_backup(services: Services, output: Path) -> Manifest:
    """Write a complete, checksummed backup of the installation into the new folder ``output``."""
    engine = services.engine
    schema.require_head(engine)
    _prepare_output(output)
    settings = services.settings
    _copy_tree(settings.keys_dir, output / "keys")
    _copy_tree(settings.checkpoint_log_dir, output / "checkpoints")
    if engine.dialect.name == "sqlite":
        seq, hash_ = _backup_sqlite(engine, output / SQLITE_FILE)
    else:
        seq, hash_ = pgtools.dump(engine, output / PG_FILE)
    manifest = Manifest(
        format=FORMAT,
        created_at=to_rfc3339(services.clock.now()),
        backend=engine.dialect.name,
        schema_revisions=sorted(schema.current_revisions(engine)),
        audit_head_seq=seq,
        audit_head_hash=hash_,
        ebr_version=version("ebr-system"),
    )
    for path in sorted(p for p in output.rglob("*") if p.is_file() and p.name != MANIFEST):
        manifest.files[path.relative_to(output).as_posix()] = sha256_file(path)
    manifest.write(output)
    return manifest


@dataclass
class RestoreReport:
    """The outcome of ``ebr restore``."""

    manifest: Manifest
    head_seq: int
    head_hash: str
    verification: VerificationResult
    schema_detail: str

    @property
    def head_matches(self) -> bool:
        return (self.head_seq, self.head_hash) == (self.manifest.audit_head_seq, self.manifest.audit_head_hash)

    @property
    def ok(self) -> bool:
        return self.head_matches and self.verification.ok

    def lines(self) -> list[str]:
        m = self.manifest
        head_line = f"audit head after restore: seq {self.head_seq} (backup recorded seq {m.audit_head_seq})"
        return [
            f"restored the {m.backend} backup of {m.created_at} ({len(m.files)} files, checksums verified)",
            f"schema: {self.schema_detail}",
            head_line + (": matches" if self.head_matches else ": DOES NOT MATCH"),
            f"audit chain verification: {self.verification.describe()}",
            "restore verified" if self.ok else "RESTORE NOT VERIFIED: do not use this database for GMP work",
        ]


def check_files(folder: Path, manifest: Manifest) -> None:
    """Raise ValidationError naming every file that is missing or altered."""
    problems = []
    for name, expected in sorted(manifest.files.items()):
        path = folder / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif sha256_file(path) != expected:
            problems.append(f"{name}: checksum differs from the manifest (altered or damaged)")
    if problems:
        raise ValidationError(f"the backup in {folder} is damaged; nothing was restored", problems)


def _require_empty_database(engine: Engine) -> None:
    tables = inspect(engine).get_table_names()
    if tables:
        shown = ", ".join(sorted(tables)[:5]) + (" ..." if len(tables) > 5 else "")
        raise StateError(
            f"the target database is not empty ({len(tables)} tables: {shown}); restore only into a new, "
            "empty database (create one and point EBR_DATABASE_URL at it)"
        )


def _restore_dir(source: Path, target: Path) -> None:
    """Copy backed-up files into ``target`` (conflicting files were refused by _check_target)."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, target, dirs_exist_ok=True)


def _check_target(services: Services, source: Path, manifest: Manifest) -> None:
    engine = services.engine
    if manifest.backend != engine.dialect.name:
        raise ValidationError(
            f"the backup is of a {manifest.backend} database but EBR_DATABASE_URL points at {engine.dialect.name}"
        )
    _require_empty_database(engine)
    settings = services.settings
    for sub, target in (("keys", settings.keys_dir), ("checkpoints", settings.checkpoint_log_dir)):
        for path in (source / sub).rglob("*"):
            destination = target / path.relative_to(source / sub)
            if path.is_file() and destination.exists() and sha256_file(destination) != sha256_file(path):
                raise StateError(
                    f"{destination} exists with other content; move it away before restoring (nothing is overwritten)"
                )


def restore_backup(services: Services, source: Path) -> RestoreReport:
    """Restore the backup in ``source`` into the (empty) configured database, then verify it."""
    manifest = Manifest.read(source)
    check_files(source, manifest)
    _check_target(services, source, manifest)
    engine = services.engine
    if manifest.backend == "sqlite":
        _restore_sqlite(engine, source / SQLITE_FILE)
    else:
        pgtools.restore(engine, source / PG_FILE)
    settings = services.settings
    _restore_dir(source / "keys", settings.keys_dir)
    _restore_dir(source / "checkpoints", settings.checkpoint_log_dir)
    with services.session_factory() as session:
        seq, hash_ = head(session)
    return RestoreReport(
        manifest=manifest,
        head_seq=seq,
        head_hash=hash_,
        verification=verify_audit(services),
        schema_detail=schema.status(engine).describe(),
    )


def _restore_sqlite(engine: Engine, backup_file: Path) -> None:
    engine.dispose()  # no pooled connection may hold the empty file while it is replaced
    target = _sqlite_path(engine)
    target.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(backup_file)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()
