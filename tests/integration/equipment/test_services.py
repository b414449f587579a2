"""The plant model service on both databases: logbook, cleaning, calibration, audit."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from audit.models import AuditEvent
from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from equipment.errors import CalibrationOverdue, CleanHoldExpired, EquipmentDirty, StatusChangeRefused
from equipment.rules import EquipmentStatus


def register_reactor(services: Services) -> None:
    with unit_of_work(services.session_factory) as session:
        services.equipment.register(
            session, actor="admin", tag="R-101", kind="unit", name="Reactor 101", reason="commissioning",
            area="Liquids", clean_hold_hours=72, requires_calibration=True, calibration_interval_days=180,
        )  # fmt: skip


@pytest.mark.requirement("URS-EQP-001")
def test_new_equipment_must_be_cleaned_and_calibrated_before_use(services: Services) -> None:
    register_reactor(services)
    eq = services.equipment
    with services.session_factory() as session, pytest.raises(EquipmentDirty):
        eq.check_usable(session, "R-101")
    with unit_of_work(services.session_factory) as session:
        eq.record_cleaning(session, actor="op1", unit="R-101", method="CIP SOP-12")
    with services.session_factory() as session, pytest.raises(CalibrationOverdue):
        eq.check_usable(session, "R-101")
    with unit_of_work(services.session_factory) as session:
        eq.record_calibration(session, actor="tech", unit="R-101", passed=True, certificate="CAL-7")
    with services.session_factory() as session:
        eq.check_usable(session, "R-101")
        later = services.clock.now() + dt.timedelta(hours=73)
        with pytest.raises(CleanHoldExpired, match="clean it again"):
            eq.check_usable(session, "R-101", later)


@pytest.mark.requirement("URS-EQP-001")
def test_every_status_change_is_in_the_logbook_and_the_audit_trail(services: Services) -> None:
    register_reactor(services)
    eq = services.equipment
    with unit_of_work(services.session_factory) as session:
        eq.record_cleaning(session, actor="op1", unit="R-101", method="CIP")
        eq.record_calibration(session, actor="tech", unit="R-101", passed=True)
        eq.mark_in_use(session, actor="op1", unit="R-101", batch_ref="B-0001")
        eq.mark_dirty(session, actor="op1", unit="R-101", reason="batch finished", reference="B-0001")
        eq.set_status(session, actor="maint", unit="R-101", status="maintenance", reason="seal replacement")
    with services.session_factory() as session:
        log = eq.logbook(session, "R-101")
        assert [(e.to_status, e.actor) for e in log] == [
            ("dirty", "admin"), ("clean", "op1"), ("in_use", "op1"), ("dirty", "op1"), ("maintenance", "maint"),
        ]  # fmt: skip
        assert log[-1].reason == "seal replacement"
        changes = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "equipment.status.changed").order_by(AuditEvent.seq)
        ).all()
        assert [c.reason for c in changes][-1] == "seal replacement"
        assert len(changes) == 4


@pytest.mark.requirement("URS-EQP-001")
def test_a_status_cannot_be_set_to_clean_without_a_cleaning_record(services: Services) -> None:
    register_reactor(services)
    with unit_of_work(services.session_factory) as session, pytest.raises(StatusChangeRefused, match="cleaning"):
        services.equipment.set_status(session, actor="op1", unit="R-101", status=EquipmentStatus.CLEAN, reason="x")
