"""clean_hold_expiry and calibration_due: equipment the system takes out of use, audited, through the runner."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from audit.models import AuditEvent
from ebr.bootstrap import Services, build_services
from ebr.core.clock import UTC, FixedClock
from ebr.core.config import Settings
from ebr.core.db import unit_of_work
from ebr.jobs.definitions import builtin_jobs
from ebr.jobs.guards import guard_for
from ebr.jobs.models import ScheduledJob
from ebr.jobs.runner import JobRunner, Outcome, RunReport


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(dt.datetime(2026, 11, 24, 8, 0, tzinfo=UTC))


@pytest.fixture
def plant(settings: Settings, clock: FixedClock) -> Iterator[Services]:
    services = build_services(settings, clock=clock)
    eq = services.equipment
    with unit_of_work(services.session_factory) as session:
        for tag, hold, calibrated in (("R-101", 2, False), ("R-102", 48, False), ("SC-01", 48, True)):
            eq.register(
                session,
                actor="admin",
                tag=tag,
                kind="unit" if not calibrated else "scale",
                name=tag,
                reason="installed",
                requires_calibration=calibrated,
                calibration_interval_days=1 if calibrated else None,
                clean_hold_hours=hold,
            )
            eq.record_cleaning(session, actor="olga", unit=tag, method="SOP-CLN-001")
            if calibrated:
                eq.record_calibration(session, actor="sam", unit=tag, passed=True, certificate="CAL-1")
    yield services
    services.close()


def _run(services: Services, tmp_path: Path, job: str = "clean_hold_expiry") -> RunReport:
    specs = [spec for spec in builtin_jobs({}) if spec.name == job]
    guard = guard_for(services.engine, tmp_path)
    return JobRunner(services=services, specs=specs, guard=guard, sleep=lambda _s: None).run(job)


def _status(services: Services, tag: str) -> str:
    with services.session_factory() as session:
        return services.equipment.get(session, tag).status


@pytest.mark.requirement("URS-EQP-001")
def test_equipment_past_its_clean_hold_is_marked_dirty_by_the_system_and_audited(
    plant: Services, clock: FixedClock, tmp_path: Path
) -> None:
    clock.advance(hours=1)
    assert _run(plant, tmp_path).result == {"marked_dirty": []}
    clock.advance(hours=2)
    report = _run(plant, tmp_path)
    assert report.outcome is Outcome.OK
    assert report.result == {"marked_dirty": ["R-101"]}
    assert _status(plant, "R-101") == "dirty"
    assert _status(plant, "R-102") == "clean"
    with plant.session_factory() as session:
        events = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "equipment.status.changed", AuditEvent.actor == "system:scheduler"
            )
        ).all()
    assert [e.entity_id for e in events] == ["R-101"]
    assert b"clean hold expired" in events[0].canonical


@pytest.mark.requirement("URS-EQP-001")
def test_overdue_calibration_alone_does_not_make_clean_equipment_dirty(
    plant: Services, clock: FixedClock, tmp_path: Path
) -> None:
    clock.advance(days=1, hours=1)  # SC-01's calibration is overdue, its clean hold (48 h) is not
    report = _run(plant, tmp_path)
    assert "SC-01" not in report.result["marked_dirty"]  # type: ignore[index]
    assert _status(plant, "SC-01") == "clean"


def _alerts(services: Services) -> list[dict[str, object]]:
    sent = services.users.notifier.sent  # type: ignore[attr-defined]
    return [details for event, details in sent if event == "equipment.calibration.overdue"]


@pytest.mark.requirement("URS-EQP-001")
def test_the_calibration_job_takes_overdue_equipment_out_of_use_once_audited_and_alerted(
    plant: Services, clock: FixedClock, tmp_path: Path
) -> None:
    clock.advance(hours=1)
    assert _run(plant, tmp_path, "calibration_due").result == {"taken_out_of_use": [], "in_use": []}
    clock.advance(days=1)
    report = _run(plant, tmp_path, "calibration_due")
    assert report.outcome is Outcome.OK, report.error
    assert report.result == {"taken_out_of_use": ["SC-01"], "in_use": []}
    assert _status(plant, "SC-01") == "maintenance"
    assert (_status(plant, "R-101"), _status(plant, "R-102")) == ("clean", "clean")
    reason = "calibration was due at 2026-11-25T08:00:00+00:00: calibrate it, then return it to service"
    assert _alerts(plant) == [
        {"equipment": "SC-01", "due_at": "2026-11-25T08:00:00+00:00", "status": "maintenance", "reason": reason}
    ]
    with plant.session_factory() as session:
        ledger = session.get(ScheduledJob, "calibration_due")
        assert ledger is not None
        assert (ledger.last_status, ledger.runs) == ("ok", 2)
        assert json.loads(ledger.last_result or "{}") == {"taken_out_of_use": ["SC-01"], "in_use": []}
        (event,) = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "equipment.status.changed", AuditEvent.actor == "system:scheduler"
            )
        ).all()
    assert event.entity_id == "SC-01"
    assert reason.encode() in event.canonical

    clock.advance(hours=1)
    assert _run(plant, tmp_path, "calibration_due").result == {"taken_out_of_use": [], "in_use": []}
    assert len(_alerts(plant)) == 1


@pytest.mark.requirement("URS-EQP-001")
def test_the_calibration_job_leaves_equipment_in_use_to_its_batch_and_reports_it(
    plant: Services, clock: FixedClock, tmp_path: Path
) -> None:
    with unit_of_work(plant.session_factory) as session:
        plant.equipment.mark_in_use(session, actor="olga", unit="SC-01", batch_ref="B-0001")
    clock.advance(days=1, hours=1)
    report = _run(plant, tmp_path, "calibration_due")
    assert report.result == {"taken_out_of_use": [], "in_use": ["SC-01"]}
    assert _status(plant, "SC-01") == "in_use"
    assert _alerts(plant) == []
