"""Usability rules of the plant model, without a database."""

from __future__ import annotations

import datetime as dt

import pytest

from ebr.core.clock import UTC
from equipment.errors import CalibrationOverdue, CleanHoldExpired, EquipmentDirty, OutOfService
from equipment.rules import EquipmentStatus, UsabilitySnapshot, overdue_calibration, usability_problem

NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def snapshot(**changes: object) -> UsabilitySnapshot:
    base: dict[str, object] = {
        "tag": "R-101",
        "status": EquipmentStatus.CLEAN,
        "in_use_by": None,
        "clean_hold_hours": 72,
        "last_cleaned_at": NOW - dt.timedelta(hours=1),
        "requires_calibration": True,
        "calibration_due_at": NOW + dt.timedelta(days=30),
    }
    base.update(changes)
    return UsabilitySnapshot(**base)  # type: ignore[arg-type]


@pytest.mark.requirement("URS-EQP-001")
def test_clean_calibrated_equipment_within_its_clean_hold_is_usable() -> None:
    assert usability_problem(snapshot(), NOW) is None


@pytest.mark.requirement("URS-EQP-001")
def test_dirty_equipment_is_not_usable_and_the_message_says_to_clean_it() -> None:
    problem = usability_problem(snapshot(status=EquipmentStatus.DIRTY), NOW)
    assert isinstance(problem, EquipmentDirty)
    assert "clean it" in str(problem)


@pytest.mark.requirement("URS-EQP-001")
def test_a_clean_hold_that_expired_requires_cleaning_again() -> None:
    problem = usability_problem(snapshot(last_cleaned_at=NOW - dt.timedelta(hours=72)), NOW)
    assert isinstance(problem, CleanHoldExpired)
    assert "clean it again" in str(problem)


@pytest.mark.requirement("URS-EQP-001")
def test_overdue_or_missing_calibration_makes_equipment_unusable() -> None:
    assert isinstance(usability_problem(snapshot(calibration_due_at=NOW), NOW), CalibrationOverdue)
    assert isinstance(usability_problem(snapshot(calibration_due_at=None), NOW), CalibrationOverdue)
    assert usability_problem(snapshot(requires_calibration=False, calibration_due_at=None), NOW) is None


@pytest.mark.requirement("URS-EQP-001")
@pytest.mark.parametrize("status", [EquipmentStatus.MAINTENANCE, EquipmentStatus.OUT_OF_SERVICE])
def test_equipment_in_maintenance_or_out_of_service_is_not_usable(status: EquipmentStatus) -> None:
    assert isinstance(usability_problem(snapshot(status=status), NOW), OutOfService)


def test_equipment_in_use_is_usable_only_by_its_own_batch() -> None:
    in_use = snapshot(status=EquipmentStatus.IN_USE, in_use_by="B-1")
    assert usability_problem(in_use, NOW, batch_ref="B-1") is None
    assert isinstance(usability_problem(in_use, NOW, batch_ref="B-2"), EquipmentDirty)


@pytest.mark.requirement("URS-EQP-001")
@pytest.mark.parametrize("status", [EquipmentStatus.CLEAN, EquipmentStatus.DIRTY])
def test_equipment_whose_calibration_is_due_is_to_be_taken_out_of_use_with_the_due_date(
    status: EquipmentStatus,
) -> None:
    due = NOW - dt.timedelta(minutes=1)
    found = overdue_calibration(snapshot(status=status, calibration_due_at=due), NOW)
    assert found is not None
    assert (found.tag, found.due_at, found.in_use, found.in_use_by) == ("R-101", due, False, None)
    assert found.reason == "calibration was due at 2026-11-24T11:59:00+00:00: calibrate it, then return it to service"
    assert overdue_calibration(snapshot(status=status, calibration_due_at=NOW), NOW) is not None


@pytest.mark.requirement("URS-EQP-001")
def test_equipment_never_calibrated_is_overdue_and_the_reason_says_so() -> None:
    found = overdue_calibration(snapshot(status=EquipmentStatus.DIRTY, calibration_due_at=None), NOW)
    assert found is not None
    assert found.reason == "it has no valid calibration: calibrate it, then return it to service"


def test_equipment_calibrated_in_time_or_not_requiring_calibration_is_not_overdue() -> None:
    assert overdue_calibration(snapshot(calibration_due_at=NOW + dt.timedelta(seconds=1)), NOW) is None
    assert overdue_calibration(snapshot(requires_calibration=False, calibration_due_at=None), NOW) is None


@pytest.mark.parametrize("status", [EquipmentStatus.MAINTENANCE, EquipmentStatus.OUT_OF_SERVICE])
def test_equipment_already_out_of_use_is_not_flagged_again(status: EquipmentStatus) -> None:
    assert overdue_calibration(snapshot(status=status, calibration_due_at=NOW), NOW) is None


@pytest.mark.requirement("URS-EQP-001")
def test_overdue_equipment_in_use_by_a_batch_is_reported_as_in_use_not_taken_from_the_batch() -> None:
    held = snapshot(status=EquipmentStatus.IN_USE, in_use_by="B-1", calibration_due_at=NOW)
    found = overdue_calibration(held, NOW)
    assert found is not None
    assert (found.in_use, found.in_use_by) == (True, "B-1")


def test_the_overdue_rule_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="naive"):
        overdue_calibration(snapshot(), NOW.replace(tzinfo=None))
