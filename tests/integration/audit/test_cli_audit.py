"""``ebr init`` → record → ``ebr audit verify`` / ``checkpoint`` / ``export`` / ``verify --bundle``."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from audit.chain import Entity
from ebr.bootstrap import build_services
from ebr.cli import main
from ebr.config import Settings, load_settings
from ebr.db import make_engine
from tests.integration.audit.conftest import drop_append_only_triggers

VECTORS = Path(__file__).parents[2] / "data" / "spec-vectors"


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
        ("valid-bundle.zip", 0, "bundle OK"),
        ("tampered-value.zip", 1, "audit.jsonl seq 3: hash does not match content"),
        ("tampered-record.zip", 1, "content_hash does not match the signed content"),
        ("tampered-truncated.zip", 1, "no valid checkpoint covers the last event"),
    ],
)
def test_verify_bundle_uses_nothing_but_the_file(vector: str, code: int, message: str) -> None:
    result = CliRunner().invoke(main, ["audit", "verify", "--bundle", str(VECTORS / vector)], env={})
    assert result.exit_code == code, result.output
    assert message in result.output
