"""The IQ against a real installation: `ebr init` passes it; each broken part is found."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from audit.keys import system_key_path
from audit.models import AuditSystemKey
from ebr.bootstrap import Services, build_services
from ebr.core.clock import SystemClock
from ebr.core.config import Settings
from ebr.core.db import make_engine, unit_of_work
from ebr.setup import initialize
from validation.iq import check_schema, check_system_key, run_iq


@pytest.fixture
def installed(settings: Settings, tmp_path: Path) -> Iterator[Services]:
    """`ebr init` with a strong secret key and a mounted external checkpoint log."""
    chosen = settings.with_overrides(
        secret_key=secrets.token_hex(32), data_dir=tmp_path / "ebr-data", checkpoint_log_dir=tmp_path / "log"
    )
    (tmp_path / "log").mkdir()
    built = build_services(chosen, clock=SystemClock())
    initialize(built)
    yield built
    built.close()


@pytest.mark.requirement("URS-VAL-001")
@pytest.mark.requirement("URS-SYS-003")
def test_a_freshly_initialized_installation_passes_every_iq_check(installed: Services) -> None:
    result = run_iq(installed.settings, installed.engine)
    failed = {c.id: [f for f in c.findings if f.startswith("FAIL")] for c in result.checks if not c.passed}
    assert failed == {}
    assert [c.id for c in result.checks] == ["IQ-01", "IQ-02", "IQ-03", "IQ-04", "IQ-05", "IQ-06", "IQ-07"]


@pytest.mark.requirement("URS-VAL-001")
@pytest.mark.requirement("URS-SYS-003")
def test_a_database_not_at_the_migration_head_fails_the_iq(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    try:
        result = check_schema(engine)
    finally:
        engine.dispose()
    assert not result.passed
    assert result.findings[0].startswith("FAIL database is empty")
    assert "run `ebr db upgrade`" in result.findings[0]


@pytest.mark.requirement("URS-VAL-001")
@pytest.mark.requirement("URS-AUD-004")
def test_a_system_key_readable_by_others_fails_the_iq_with_the_chmod_to_run(installed: Services) -> None:
    key = system_key_path(installed.settings.keys_dir)
    assert check_system_key(installed.settings, installed.engine).passed
    key.chmod(0o644)
    result = check_system_key(installed.settings, installed.engine)
    assert not result.passed
    assert f"FAIL {key} has mode 0644; run `chmod 600 {key}`" in result.findings


@pytest.mark.requirement("URS-VAL-001")
@pytest.mark.requirement("URS-AUD-004")
def test_a_missing_or_retired_system_key_fails_the_iq(installed: Services) -> None:
    with unit_of_work(installed.session_factory) as session:
        session.execute(update(AuditSystemKey).values(valid_to=installed.clock.now()))
    result = check_system_key(installed.settings, installed.engine)
    assert not result.passed
    assert any("was retired" in f for f in result.findings)
    system_key_path(installed.settings.keys_dir).unlink()
    result = check_system_key(installed.settings, installed.engine)
    assert not result.passed
    assert "run `ebr init` to create it" in result.findings[0]
