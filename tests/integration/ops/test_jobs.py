"""The built-in jobs, each a thin call into its package's service, run through the runner."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from audit.chain import Entity
from audit.models import AuditCheckpoint, AuditEvent
from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.jobs.definitions import builtin_jobs
from ebr.jobs.guards import guard_for
from ebr.jobs.runner import JobRunner, Outcome, RunReport
from ebr.trail import services as audit_service


def run_job(services: Services, name: str, tmp_path: Path) -> RunReport:
    specs = [spec for spec in builtin_jobs({}) if spec.name == name]
    assert specs, f"job {name} is not defined"
    runner = JobRunner(
        services=services, specs=specs, guard=guard_for(services.engine, tmp_path), sleep=lambda _s: None
    )
    return runner.run(name)


def _events(services: Services, action: str) -> list[AuditEvent]:
    with services.session_factory() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _checkpoints(services: Services) -> int:
    with services.session_factory() as session:
        return session.scalar(select(func.count()).select_from(AuditCheckpoint)) or 0


def _record(services: Services, count: int) -> None:
    with unit_of_work(services.session_factory) as session:
        for n in range(count):
            services.audit.record(session, actor="alice", action="test.thing.made", entity=Entity("thing", str(n)))


@pytest.mark.requirement("URS-AUD-003")
def test_the_audit_job_verifies_the_chain_and_signs_a_checkpoint(services: Services, tmp_path: Path) -> None:
    audit_service.ensure_system_key(services)
    _record(services, 4)
    report = run_job(services, "audit_verify", tmp_path)
    assert report.outcome is Outcome.OK, report.error
    assert report.result is not None
    assert report.result["ok"] is True
    (verified,) = _events(services, "audit.chain.verified")
    assert verified.actor == "system:scheduler"
    assert _checkpoints(services) == 1
    log_file = next(services.settings.checkpoint_log_dir.iterdir())
    assert log_file.read_bytes().count(b"\n") == 1


@pytest.mark.requirement("URS-AUD-003")
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_audit_job_reports_a_broken_chain_and_signs_no_checkpoint(services: Services, tmp_path: Path) -> None:
    audit_service.ensure_system_key(services)
    _record(services, 4)
    database = services.settings.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(database) as conn:  # an edit behind the application's back
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall():
            conn.execute(f'DROP TRIGGER "{name}"')
        edited = "CAST(replace(CAST(canonical AS TEXT), 'alice', 'mallory') AS BLOB)"
        conn.execute(f"UPDATE audit_event SET canonical = {edited} WHERE seq = 2")  # noqa: S608 - constant SQL
    conn.close()
    services.engine.dispose()
    report = run_job(services, "audit_verify", tmp_path)
    assert report.outcome is Outcome.OK  # the verification ran; its finding is the result
    assert report.result is not None
    assert report.result["ok"] is False
    assert _checkpoints(services) == 0
    assert services.users.notifier.sent[-1][0] == "audit.chain.broken"  # type: ignore[attr-defined]


@pytest.mark.requirement("URS-SYS-007")
def test_the_audit_job_without_a_system_key_fails_and_is_audited(services: Services, tmp_path: Path) -> None:
    report = run_job(services, "audit_verify", tmp_path)
    assert report.outcome is Outcome.FAILED
    assert "ebr init" in (report.error or "")
    (failed,) = _events(services, "scheduler.job.failed")
    assert failed.entity_id == "audit_verify"


def test_the_scheduler_lists_its_jobs_with_their_configured_intervals() -> None:
    from ebr.cli import main

    result = CliRunner().invoke(main, ["scheduler", "--list"], env={"EBR_JOB_AUDIT_VERIFY_SECONDS": "600"})
    assert result.exit_code == 0, result.output
    assert "audit_verify" in result.output
    assert "every 600s" in result.output
    disabled = CliRunner().invoke(main, ["scheduler", "--list"], env={"EBR_JOB_AUDIT_VERIFY_SECONDS": "0"})
    assert "audit_verify" not in disabled.output


def test_every_built_in_job_has_a_positive_default_interval() -> None:
    for spec in builtin_jobs({}):
        assert spec.every >= dt.timedelta(seconds=1), spec.name
