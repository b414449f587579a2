"""The job runner: retries, records and reports failures; one run per slot."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from audit.models import AuditEvent
from ebr.bootstrap import Services, build_services
from ebr.core.clock import UTC, FixedClock
from ebr.core.config import Settings
from ebr.jobs.guards import guard_for
from ebr.jobs.models import ScheduledJob
from ebr.jobs.runner import JobContext, JobRunner, JobSpec, Outcome

START = dt.datetime(2026, 11, 24, 10, 0, 30, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def fixed(settings: Settings, clock: FixedClock) -> Iterator[Services]:
    built = build_services(settings, clock=clock)
    yield built
    built.close()


class Flaky:
    """A job that fails its first ``failures`` calls."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[dt.datetime] = []

    def __call__(self, context: JobContext) -> dict[str, int]:
        self.calls.append(context.slot)
        if len(self.calls) <= self.failures:
            raise RuntimeError(f"sensor database offline (call {len(self.calls)})")
        return {"calls": len(self.calls)}


def _runner(services: Services, job: Flaky, *, gmp: bool = True, tmp: Path) -> JobRunner:
    spec = JobSpec(name="expiry", func=job, every=dt.timedelta(minutes=1), description="test", gmp=gmp, attempts=3)
    return JobRunner(services=services, specs=[spec], guard=guard_for(services.engine, tmp), sleep=lambda _s: None)


def _ledger(services: Services) -> ScheduledJob:
    with services.session_factory() as session:
        row = session.get(ScheduledJob, "expiry")
    assert row is not None
    return row


def _failure_events(services: Services) -> list[AuditEvent]:
    with services.session_factory() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "scheduler.job.failed")))


@pytest.mark.requirement("URS-SYS-007")
def test_a_job_that_fails_once_is_retried_and_succeeds(fixed: Services, tmp_path: Path) -> None:
    job = Flaky(failures=1)
    report = _runner(fixed, job, tmp=tmp_path).run("expiry")
    assert (report.outcome, report.attempts, report.result) == (Outcome.OK, 2, {"calls": 2})
    ledger = _ledger(fixed)
    assert (ledger.runs, ledger.failures, ledger.last_status) == (1, 0, "ok")
    assert _failure_events(fixed) == []


@pytest.mark.requirement("URS-AUD-001", "URS-VAL-003")
def test_a_gmp_job_that_keeps_failing_is_recorded_logged_and_audited(
    fixed: Services, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    job = Flaky(failures=10)
    with caplog.at_level(logging.INFO, logger="ebr.jobs"):
        report = _runner(fixed, job, tmp=tmp_path).run("expiry")
    assert report.outcome is Outcome.FAILED
    assert len(job.calls) == 3
    ledger = _ledger(fixed)
    assert (ledger.failures, ledger.consecutive_failures, ledger.last_status) == (1, 1, "failed")
    assert "sensor database offline" in (ledger.last_error or "")
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors
    assert "expiry" in errors[0].getMessage()
    (event,) = _failure_events(fixed)
    assert event.actor == "system:scheduler"
    assert (event.entity_type, event.entity_id) == ("scheduled_job", "expiry")
    assert b"sensor database offline" in event.canonical


@pytest.mark.requirement("URS-SYS-007")
def test_a_failing_job_that_touches_no_gmp_data_is_recorded_but_not_audited(fixed: Services, tmp_path: Path) -> None:
    report = _runner(fixed, Flaky(failures=10), gmp=False, tmp=tmp_path).run("expiry")
    assert report.outcome is Outcome.FAILED
    assert _ledger(fixed).failures == 1
    assert _failure_events(fixed) == []


@pytest.mark.requirement("URS-SYS-007")
def test_a_failed_slot_is_not_dropped_the_next_slot_runs_the_job_again(
    fixed: Services, clock: FixedClock, tmp_path: Path
) -> None:
    job = Flaky(failures=3)
    runner = _runner(fixed, job, tmp=tmp_path)
    assert runner.run("expiry").outcome is Outcome.FAILED
    clock.advance(minutes=1)
    assert runner.run("expiry").outcome is Outcome.OK
    ledger = _ledger(fixed)
    assert (ledger.runs, ledger.failures, ledger.consecutive_failures) == (2, 1, 0)


@pytest.mark.requirement("URS-SYS-007")
def test_a_slot_already_run_is_skipped_and_the_next_slot_runs(
    fixed: Services, clock: FixedClock, tmp_path: Path
) -> None:
    job = Flaky(failures=0)
    runner = _runner(fixed, job, tmp=tmp_path)
    first = runner.run("expiry")
    assert first.slot == dt.datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    clock.advance(seconds=20)
    assert runner.run("expiry").outcome is Outcome.DONE
    clock.advance(seconds=20)
    assert runner.run("expiry").outcome is Outcome.OK
    assert len(job.calls) == 2


@pytest.mark.requirement("URS-SYS-007")
def test_a_job_held_by_another_process_is_skipped_as_busy(fixed: Services, tmp_path: Path) -> None:
    job = Flaky(failures=0)
    runner = _runner(fixed, job, tmp=tmp_path)
    other = guard_for(fixed.engine, tmp_path)  # a second lock holder, as another host would be
    with other.hold("expiry") as held:
        assert held
        assert runner.run("expiry").outcome is Outcome.BUSY
    assert job.calls == []
