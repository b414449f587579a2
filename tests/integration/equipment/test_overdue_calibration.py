"""EquipmentService.flag_overdue_calibrations on both databases: out of use, logged, audited, once."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from audit.models import AuditEvent
from ebr.bootstrap import Services, build_services
from ebr.core.clock import UTC, FixedClock
from ebr.core.config import Settings
from ebr.core.db import unit_of_work
from equipment.errors import CalibrationOverdue, OutOfService, StatusChangeRefused
from equipment.rules import OverdueCalibration

SYSTEM = "system:scheduler"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(dt.datetime(2026, 11, 24, 8, 0, tzinfo=UTC))


@pytest.fixture
def plant(settings: Settings, clock: FixedClock) -> Iterator[Services]:
    """SC-01 and T-100 due in a day (T-100 in use by B-0001), SC-02 in 30 days, R-101 needs no calibration."""
    services = build_services(settings, clock=clock)
    eq = services.equipment
    with unit_of_work(services.session_factory) as session:
        for tag, days in (("SC-01", 1), ("SC-02", 30), ("T-100", 1), ("R-101", None)):
            eq.register(
                session, actor="admin", tag=tag, kind="unit", name=tag, reason="installed", clean_hold_hours=720,
                requires_calibration=days is not None, calibration_interval_days=days,
            )  # fmt: skip
            eq.record_cleaning(session, actor="olga", unit=tag, method="SOP-CLN-001")
            if days is not None:
                eq.record_calibration(session, actor="sam", unit=tag, passed=True, certificate="CAL-1")
        eq.mark_in_use(session, actor="olga", unit="T-100", batch_ref="B-0001")
    yield services
    services.close()


def _sweep(services: Services) -> list[OverdueCalibration]:
    with unit_of_work(services.session_factory) as session:
        return services.equipment.flag_overdue_calibrations(session, actor=SYSTEM, at=services.clock.now())


def _statuses(services: Services) -> dict[str, str]:
    with services.session_factory() as session:
        return {item.tag: item.status for item in services.equipment.all(session)}


def _system_changes(services: Services) -> list[dict[str, Any]]:
    query = select(AuditEvent).where(AuditEvent.action == "equipment.status.changed", AuditEvent.actor == SYSTEM)
    with services.session_factory() as session:
        return [json.loads(row.canonical) for row in session.scalars(query.order_by(AuditEvent.seq))]


@pytest.mark.requirement("URS-EQP-001")
def test_equipment_whose_calibration_is_overdue_goes_to_maintenance_with_logbook_and_audit_event(
    plant: Services, clock: FixedClock
) -> None:
    clock.advance(hours=23)
    assert _sweep(plant) == []
    clock.advance(hours=2)
    found = _sweep(plant)
    assert [(f.tag, f.in_use) for f in found] == [("SC-01", False), ("T-100", True)]
    assert _statuses(plant) == {"R-101": "clean", "SC-01": "maintenance", "SC-02": "clean", "T-100": "in_use"}
    reason = "calibration was due at 2026-11-25T08:00:00+00:00: calibrate it, then return it to service"
    with plant.session_factory() as session:
        last = plant.equipment.logbook(session, "SC-01")[-1]
        assert (last.actor, last.from_status, last.to_status, last.reason) == (SYSTEM, "clean", "maintenance", reason)
        with pytest.raises(OutOfService, match="return it to service"):
            plant.equipment.check_usable(session, "SC-01")
    (event,) = _system_changes(plant)
    assert event["entity"] == {"type": "equipment", "id": "SC-01"}
    assert (event["before"]["status"], event["after"]["status"], event["reason"]) == ("clean", "maintenance", reason)


@pytest.mark.requirement("URS-EQP-001")
def test_the_status_change_logbook_entry_and_audit_event_roll_back_together(plant: Services, clock: FixedClock) -> None:
    clock.advance(days=2)
    with plant.session_factory() as session:
        assert [f.tag for f in plant.equipment.flag_overdue_calibrations(session, actor=SYSTEM)] == ["SC-01", "T-100"]
        session.rollback()
    assert _statuses(plant)["SC-01"] == "clean"
    assert _system_changes(plant) == []
    with plant.session_factory() as session:
        assert [e.to_status for e in plant.equipment.logbook(session, "SC-01")] == ["dirty", "clean"]


@pytest.mark.requirement("URS-EQP-001")
def test_a_second_sweep_changes_nothing_and_writes_no_second_event(plant: Services, clock: FixedClock) -> None:
    clock.advance(days=2)
    assert [f.tag for f in _sweep(plant) if not f.in_use] == ["SC-01"]
    clock.advance(hours=1)
    assert [(f.tag, f.in_use) for f in _sweep(plant)] == [("T-100", True)]
    assert len(_system_changes(plant)) == 1
    with plant.session_factory() as session:
        assert [e.to_status for e in plant.equipment.logbook(session, "SC-01")] == ["dirty", "clean", "maintenance"]


@pytest.mark.requirement("URS-EQP-001")
def test_overdue_equipment_in_use_stays_with_its_batch_and_is_flagged_after_its_release(
    plant: Services, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    clock.advance(days=2)
    (_, held) = _sweep(plant)
    assert (held.tag, held.in_use, held.in_use_by) == ("T-100", True, "B-0001")
    assert "T-100 is in use by B-0001 and its calibration is overdue" in caplog.text
    assert _statuses(plant)["T-100"] == "in_use"
    with plant.session_factory() as session, pytest.raises(CalibrationOverdue):
        plant.equipment.check_usable(session, "T-100", batch_ref="B-0001")  # the batch's next use is refused anyway
    with unit_of_work(plant.session_factory) as session:
        plant.equipment.mark_dirty(session, actor="olga", unit="T-100", reason="batch finished", reference="B-0001")
    assert [(f.tag, f.in_use) for f in _sweep(plant)] == [("T-100", False)]
    assert _statuses(plant)["T-100"] == "maintenance"


@pytest.mark.requirement("URS-EQP-001")
def test_equipment_that_needs_no_calibration_is_never_flagged(plant: Services, clock: FixedClock) -> None:
    clock.advance(days=400)
    assert "R-101" not in [f.tag for f in _sweep(plant)]
    assert _statuses(plant)["R-101"] == "clean"


@pytest.mark.requirement("URS-EQP-001")
def test_equipment_that_needs_calibration_but_never_had_one_is_taken_out_of_use(plant: Services) -> None:
    with unit_of_work(plant.session_factory) as session:
        plant.equipment.register(
            session, actor="admin", tag="SC-09", kind="scale", name="SC-09", reason="installed",
            requires_calibration=True, calibration_interval_days=90,
        )  # fmt: skip
    (found,) = _sweep(plant)
    assert (found.tag, found.due_at) == ("SC-09", None)
    assert _statuses(plant)["SC-09"] == "maintenance"
    assert _system_changes(plant)[0]["reason"] == "it has no valid calibration: calibrate it, then return it to service"


@pytest.mark.requirement("URS-EQP-001")
def test_after_a_passed_calibration_a_supervisor_returns_it_to_service_and_cleaning_makes_it_usable(
    plant: Services, clock: FixedClock
) -> None:
    eq = plant.equipment
    clock.advance(days=2)
    _sweep(plant)
    with unit_of_work(plant.session_factory) as session:
        eq.record_calibration(session, actor="sam", unit="SC-01", passed=True, certificate="CAL-2")
    assert [f.tag for f in _sweep(plant)] == ["T-100"]  # calibrated, still in maintenance: nothing to do
    with plant.session_factory() as session, pytest.raises(OutOfService):
        eq.check_usable(session, "SC-01")
    with unit_of_work(plant.session_factory) as session, pytest.raises(StatusChangeRefused, match="in maintenance"):
        eq.record_cleaning(session, actor="olga", unit="SC-01", method="SOP-CLN-001")  # not past the supervisor
    with unit_of_work(plant.session_factory) as session:
        eq.set_status(session, actor="sue", unit="SC-01", status="dirty", reason="recalibrated (CAL-2)")
        eq.record_cleaning(session, actor="olga", unit="SC-01", method="SOP-CLN-001")
    with plant.session_factory() as session:
        eq.check_usable(session, "SC-01")
        steps = [(e.from_status, e.to_status, e.actor) for e in eq.logbook(session, "SC-01")][2:]
    assert steps == [("clean", "maintenance", SYSTEM), ("maintenance", "dirty", "sue"), ("dirty", "clean", "olga")]
    assert [f.tag for f in _sweep(plant)] == ["T-100"]
