"""``ebr init`` → record → ``ebr audit verify`` / ``checkpoint`` / ``export`` / ``verify --bundle``."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from audit.chain import Entity
from ebr.bootstrap import build_services
from ebr.cli import main
from ebr.core.config import Settings, load_settings
from ebr.core.db import make_engine
from tests.integration.audit.conftest import drop_append_only_triggers

VECTORS = Path(__file__).parents[2] / "data" / "spec-vectors"
VECTORS_V2 = Path(__file__).parents[2] / "data" / "bundle-v2"


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    return {
        "EBR_DATABASE_URL": settings.database_url,
        "EBR_DATA_DIR": str(settings.data_dir),
        "EBR_CHECKPOINT_EVERY": "4",
    }


def _record(env: dict[str, str], n: int) -> None:
    services = build_services(load_settings(env))
    try:
        for i in range(n):
            with services.session_factory.begin() as session:
                services.audit.record(
                    session, actor="alice", action="batch.created", entity=Entity("batch", f"B-{i}"), after={"i": i}
                )
    finally:
        services.close()


@pytest.mark.requirement("URS-AUD-003", "URS-AUD-004", "URS-AUD-005")
def test_a_user_inits_records_verifies_exports_and_verifies_the_bundle(env: dict[str, str], tmp_path: Path) -> None:
    runner = CliRunner()
    init = runner.invoke(main, ["init"], env=env)
    assert init.exit_code == 0, init.output
    assert "system key" in init.output
    _record(env, 6)
    verify = runner.invoke(main, ["audit", "verify"], env=env)
    assert verify.exit_code == 0, verify.output
    assert "audit chain OK:" in verify.output
    assert "verifying" not in verify.output  # no progress bar when the output is not a terminal
    made = runner.invoke(main, ["audit", "checkpoint"], env=env)
    assert made.exit_code == 0, made.output
    assert "checkpoint at seq" in made.output
    out = tmp_path / "b.zip"
    exported = runner.invoke(main, ["audit", "export", "--entity", "batch:B-2", "-o", str(out)], env=env)
    assert exported.exit_code == 0, exported.output
    checked = runner.invoke(main, ["audit", "verify", "--bundle", str(out)], env=env)
    assert checked.exit_code == 0, checked.output
    assert "bundle OK" in checked.output


@pytest.mark.requirement("URS-AUD-003")
def test_verify_exits_1_and_prints_the_first_broken_seq(env: dict[str, str]) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["init"], env=env).exit_code == 0
    _record(env, 6)
    engine = make_engine(env["EBR_DATABASE_URL"])
    try:
        with engine.begin() as conn:
            drop_append_only_triggers(conn)
            conn.execute(text("DELETE FROM audit_event WHERE seq = 3"))
    finally:
        engine.dispose()
    result = runner.invoke(main, ["audit", "verify"], env=env)
    assert result.exit_code == 1
    assert "first broken seq 3 (missing)" in result.output


@pytest.mark.requirement("URS-AUD-005")
@pytest.mark.parametrize(
    ("vector", "code", "message"),
    [
        ("valid-bundle.zip", 0, "bundle OK (format v1, legacy"),
        ("tampered-value.zip", 1, "audit.jsonl seq 3: hash does not match content"),
        ("tampered-record.zip", 1, "content_hash does not match the signed content"),
        ("tampered-truncated.zip", 1, "no valid checkpoint covers the last event"),
    ],
)
def test_verify_bundle_uses_nothing_but_the_file(vector: str, code: int, message: str) -> None:
    result = CliRunner().invoke(main, ["audit", "verify", "--bundle", str(VECTORS / vector)], env={})
    assert result.exit_code == code, result.output
    assert message in result.output


def _exported(env: dict[str, str], tmp_path: Path) -> tuple[Path, str]:
    """An initialized installation's entity bundle and its fingerprint as ``ebr audit key`` prints it."""
    runner = CliRunner()
    assert runner.invoke(main, ["init"], env=env).exit_code == 0
    _record(env, 6)
    out = tmp_path / "b.zip"
    exported = runner.invoke(main, ["audit", "export", "--entity", "batch:B-2", "-o", str(out)], env=env)
    assert exported.exit_code == 0, exported.output
    key = runner.invoke(main, ["audit", "key"], env=env)
    assert key.exit_code == 0, key.output
    fingerprint = key.output.split("system key: ", 1)[1].split()[0]
    assert fingerprint.startswith("SHA256:")
    assert f"signed by {fingerprint}" in exported.output
    return out, fingerprint


@pytest.mark.requirement("URS-AUD-020")
def test_an_unpinned_bundle_check_prints_the_fingerprint_it_used_and_says_it_was_not_pinned(
    env: dict[str, str], tmp_path: Path
) -> None:
    out, fingerprint = _exported(env, tmp_path)
    checked = CliRunner().invoke(main, ["audit", "verify", "--bundle", str(out)], env={})
    assert checked.exit_code == 0, checked.output
    assert "bundle OK (format v2, events): 1 events" in checked.output
    assert f"system key(s) used: {fingerprint}" in checked.output
    assert "NOT pinned" in checked.output


@pytest.mark.requirement("URS-AUD-020")
def test_a_bundle_pinned_by_fingerprint_pem_or_keys_file_verifies_and_a_foreign_pin_fails(
    env: dict[str, str], tmp_path: Path
) -> None:
    out, fingerprint = _exported(env, tmp_path)
    runner = CliRunner()
    pem = runner.invoke(main, ["audit", "key", "--pem"], env=env).output.split("\n", 1)[1]
    (tmp_path / "key.pem").write_text(pem, encoding="utf-8")
    (tmp_path / "keys.txt").write_text(f"# published keys\n{fingerprint}\n", encoding="utf-8")
    for pin in (
        ["--trusted-key", fingerprint],
        ["--trusted-key", str(tmp_path / "key.pem")],
        ["--trusted-key", pem],
        ["--trusted-keys", str(tmp_path / "keys.txt")],
    ):
        checked = runner.invoke(main, ["audit", "verify", "--bundle", str(out), *pin], env={})
        assert checked.exit_code == 0, (pin, checked.output)
        assert "(pinned: each is a trusted key)" in checked.output
    foreign = (VECTORS_V2 / "trusted-keys.txt").read_text(encoding="utf-8").split("\n")[1]
    refused = runner.invoke(main, ["audit", "verify", "--bundle", str(out), "--trusted-key", foreign], env={})
    assert refused.exit_code == 1
    assert "manifest.json signature: signed by key" in refused.output
    assert "which is not a trusted key" in refused.output
    bad = runner.invoke(main, ["audit", "verify", "--bundle", str(out), "--trusted-key", "SHA256:beef"], env={})
    assert bad.exit_code != 0
    assert "is not a key fingerprint" in bad.output


@pytest.mark.requirement("URS-AUD-005")
def test_a_v1_bundle_pinned_to_another_key_fails() -> None:
    foreign = (VECTORS_V2 / "trusted-keys.txt").read_text(encoding="utf-8").split("\n")[1]
    args = ["audit", "verify", "--bundle", str(VECTORS / "valid-bundle.zip"), "--trusted-key", foreign]
    result = CliRunner().invoke(main, args, env={})
    assert result.exit_code == 1
    assert "which is not a trusted key" in result.output
    assert "format v1" in result.output


@pytest.mark.requirement("URS-AUD-021")
def test_checkpoint_refuses_to_seal_a_trail_that_does_not_verify(env: dict[str, str]) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["init"], env=env).exit_code == 0
    _record(env, 6)
    engine = make_engine(env["EBR_DATABASE_URL"])
    try:
        with engine.begin() as conn:
            drop_append_only_triggers(conn)
            conn.execute(text("DELETE FROM audit_event WHERE seq = 3"))
    finally:
        engine.dispose()
    result = runner.invoke(main, ["audit", "checkpoint"], env=env)
    assert result.exit_code == 2, result.output  # the CLI's exit code for a refused command
    assert "no tree head signed: seq 3: event 3 is missing" in result.output
    assert "run `ebr audit verify`" in result.output
