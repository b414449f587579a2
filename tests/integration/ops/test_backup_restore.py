"""`ebr backup` → `ebr restore` → verify, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from audit.chain import Entity
from audit.checkpoints import Checkpointer
from audit.keys import create_system_key
from ebr.bootstrap import Services, build_services
from ebr.core.config import load_settings
from ebr.core.db import unit_of_work
from ebr.core.errors import StateError, ValidationError
from ebr.ops.backup import MANIFEST, SQLITE_FILE, Manifest, make_backup, restore_backup, sha256_file


def _record(services: Services, count: int, start: int = 0) -> None:
    with unit_of_work(services.session_factory) as session:
        for n in range(start, start + count):
            services.audit.record(
                session, actor="alice", action="test.thing.changed", entity=Entity("thing", str(n)), after={"n": n}
            )


def _populate(services: Services) -> None:
    """Seven events, the system key and a signed checkpoint at event 5 in the external log."""
    create_system_key(services.settings.keys_dir)
    _record(services, 5)
    checkpointer = Checkpointer(
        keys_dir=services.settings.keys_dir,
        log_dir=services.settings.checkpoint_log_dir,
        every=1000,
        clock=services.clock,
    )
    with unit_of_work(services.session_factory) as session:
        checkpointer.checkpoint(session)
    _record(services, 2, start=5)


def _target(url: str, root: Path) -> Services:
    settings = load_settings({"EBR_DATA_DIR": str(root)}, database_url=url, testing=True)
    return build_services(settings)


@pytest.mark.requirement("URS-SYS-008")
def test_a_backup_restores_into_an_empty_database_and_verifies(
    services: Services, empty_database_url: str, tmp_path: Path
) -> None:
    _populate(services)
    manifest = make_backup(services, tmp_path / "backup")
    assert manifest.audit_head_seq == 7
    assert any(name.startswith("keys/") for name in manifest.files)
    assert any(name.startswith("checkpoints/") for name in manifest.files)
    target = _target(empty_database_url, tmp_path / "restored")
    try:
        report = restore_backup(target, tmp_path / "backup")
        assert report.ok, report.lines()
        assert (report.head_seq, report.head_hash) == (7, manifest.audit_head_hash)
        assert report.verification.summary["checkpoints_checked"] >= 1
        assert (target.settings.keys_dir / "system-ed25519.pem").is_file()
        _record(target, 1, start=7)  # the restored installation carries on its chain
    finally:
        target.close()


@pytest.mark.requirement("URS-SYS-008")
def test_a_restore_into_a_database_that_is_not_empty_is_refused(services: Services, tmp_path: Path) -> None:
    _populate(services)
    make_backup(services, tmp_path / "backup")
    with pytest.raises(StateError, match="not empty"):
        restore_backup(services, tmp_path / "backup")


@pytest.mark.requirement("URS-SYS-008")
def test_a_damaged_backup_is_refused_before_anything_is_restored(
    services: Services, empty_database_url: str, tmp_path: Path
) -> None:
    _populate(services)
    manifest = make_backup(services, tmp_path / "backup")
    database_file = next(name for name in manifest.files if name.startswith("database."))
    with (tmp_path / "backup" / database_file).open("r+b") as handle:
        handle.seek(-200, 2)
        handle.write(b"\x00damaged\x00")
    target = _target(empty_database_url, tmp_path / "restored")
    try:
        with pytest.raises(ValidationError, match="damaged") as raised:
            restore_backup(target, tmp_path / "backup")
        assert database_file in str(raised.value)
        assert not (target.settings.keys_dir).exists()
    finally:
        target.close()


@pytest.mark.requirement("URS-SYS-008")
def test_a_backup_folder_that_is_not_empty_is_refused(services: Services, tmp_path: Path) -> None:
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "old.txt").write_text("x")
    with pytest.raises(StateError, match="not an empty folder"):
        make_backup(services, tmp_path / "backup")


@pytest.mark.requirement("URS-SYS-008")
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_restored_chain_that_was_edited_in_the_backup_fails_verification(
    services: Services, empty_database_url: str, tmp_path: Path
) -> None:
    _populate(services)
    make_backup(services, tmp_path / "backup")
    copy = tmp_path / "backup" / SQLITE_FILE
    with sqlite3.connect(copy) as conn:  # behind the application's back: drop the guard, edit an event
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall():
            conn.execute(f'DROP TRIGGER "{name}"')
        edited = "CAST(replace(CAST(canonical AS TEXT), 'alice', 'mallory') AS BLOB)"
        conn.execute(f"UPDATE audit_event SET canonical = {edited} WHERE seq = 3")  # noqa: S608 - constant SQL
    conn.close()
    manifest = json.loads((tmp_path / "backup" / MANIFEST).read_text())
    manifest["files"][SQLITE_FILE] = sha256_file(copy)  # a careful forger also fixes the manifest
    (tmp_path / "backup" / MANIFEST).write_text(json.dumps(manifest))
    target = _target(empty_database_url, tmp_path / "restored")
    try:
        report = restore_backup(target, tmp_path / "backup")
        assert not report.ok
        assert not report.verification.ok
        assert report.verification.describe().startswith("FAILED")
        assert report.lines()[-1].startswith("RESTORE NOT VERIFIED")
    finally:
        target.close()


@pytest.mark.requirement("URS-SYS-008")
def test_the_backup_and_restore_commands_report_and_refuse(
    services: Services, empty_database_url: str, tmp_path: Path
) -> None:
    _populate(services)
    source_env = {"EBR_DATABASE_URL": services.settings.database_url, "EBR_DATA_DIR": str(services.settings.data_dir)}
    result = CliRunner().invoke(_main(), ["backup", "-o", str(tmp_path / "b")], env=source_env)
    assert result.exit_code == 0, result.output
    assert "audit head seq 7" in result.output
    assert Manifest.read(tmp_path / "b").audit_head_seq == 7
    target_env = {"EBR_DATABASE_URL": empty_database_url, "EBR_DATA_DIR": str(tmp_path / "restored")}
    result = CliRunner().invoke(_main(), ["restore", str(tmp_path / "b")], env=target_env)
    assert result.exit_code == 0, result.output
    assert "restore verified" in result.output
    result = CliRunner().invoke(_main(), ["restore", str(tmp_path / "b")], env=target_env)
    assert result.exit_code == 2
    assert "not empty" in result.output


def _main():  # type: ignore[no-untyped-def]
    from ebr.cli import main

    return main
