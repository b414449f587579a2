"""Calibration and maintenance records of the plant model (a part of ``EquipmentService``).

A calibration records as found / as left, pass or fail, the certificate, who performed it
(a user or a contractor) and the next due date; a failed one takes the unit to MAINTENANCE
at once. :meth:`CalibrationRecords.impact_of` gives the window a failed calibration puts
in doubt (since the last passing calibration) and the batches the logbook shows in it.
Every change writes its audit event (and logbook entry) in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.chain import Entity
from audit.trail import AuditTrail
from ebr.core.clock import Clock
from ebr.core.ids import new_id
from equipment.errors import EquipmentNotFound, StatusChangeRefused
from equipment.models import CalibrationRecord, Equipment, MaintenanceRecord, StatusLogEntry
from equipment.rules import (
    EquipmentStatus,
    Impact,
    MaintenanceKind,
    check_calibration_times,
    last_pass_before,
    parse_maintenance_kind,
)


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


class CalibrationRecords:
    """Calibration and maintenance: mixed into ``equipment.services.EquipmentService``."""

    audit: AuditTrail
    clock: Clock

    if TYPE_CHECKING:  # provided by EquipmentService

        def get(self, session: Session, tag: str) -> Equipment: ...

        def calibrations(self, session: Session, tag: str) -> list[CalibrationRecord]: ...

        def _change(
            self,
            session: Session,
            eq: Equipment,
            *,
            actor: str,
            status: EquipmentStatus,
            reason: str,
            reference: str | None,
        ) -> None: ...

    def record_calibration(
        self,
        session: Session,
        *,
        actor: str,
        unit: str,
        passed: bool,
        certificate: str = "",
        comment: str = "",
        at: dt.datetime | None = None,
        due_at: dt.datetime | None = None,
        as_found: str = "",
        as_left: str = "",
        performed_by: str | None = None,
        contractor: bool = False,
    ) -> CalibrationRecord:
        """Record a calibration (``actor`` records it; ``performed_by`` did it, a contractor's name when
        ``contractor``).

        A passing one sets the next due date (``due_at``, else the unit's interval). A failed one
        makes the unit unusable (due now) and takes it to MAINTENANCE with the logbook entry;
        :meth:`impact_of` then lists the batches that used it since its last passing calibration.
        Raises StatusChangeRefused for a time in the future or a due date not after the calibration.
        """
        eq = self.get(session, unit)
        now = self.clock.now()
        at = at or now
        check_calibration_times(unit, at=at, now=now, due_at=due_at if passed else None)
        if due_at is None:
            interval = eq.calibration_interval_days or 365
            due_at = at + dt.timedelta(days=interval)
        if not passed:
            due_at = at
        who = (performed_by or "").strip() or actor
        record = CalibrationRecord(
            id=new_id(),
            equipment_id=eq.id,
            calibrated_at=at,
            actor=actor,
            passed=passed,
            due_at=due_at,
            certificate=certificate,
            comment=comment,
            as_found=as_found,
            as_left=as_left,
            performed_by=who,
            contractor=contractor,
        )
        session.add(record)
        before = {"calibration_due_at": _iso(eq.calibration_due_at)}
        eq.calibration_due_at = due_at
        after = {
            "calibration_due_at": _iso(due_at),
            "calibrated_at": _iso(at),
            "passed": passed,
            "certificate": certificate,
            "as_found": as_found,
            "as_left": as_left,
            "performed_by": who,
            "contractor": contractor,
        }
        self.audit.record(
            session,
            actor=actor,
            action="equipment.calibration.recorded",
            entity=Entity("equipment", eq.tag),
            before=before,
            after=after,
            reason=comment or None,
        )
        session.flush()
        if not passed and eq.status != EquipmentStatus.MAINTENANCE.value:
            reason = (
                f"calibration failed{f' (certificate {certificate})' if certificate else ''}: repair and recalibrate"
            )
            self._change(
                session, eq, actor=actor, status=EquipmentStatus.MAINTENANCE, reason=reason, reference=record.id
            )
        return record

    def calibration(self, session: Session, record_id: str) -> CalibrationRecord:
        """One calibration record by id; raises EquipmentNotFound."""
        found = session.get(CalibrationRecord, record_id)
        if found is None:
            raise EquipmentNotFound(f"no calibration record {record_id!r}; the unit's page lists its calibrations")
        return found

    def impact_of(self, session: Session, record: CalibrationRecord) -> Impact:
        """The window a failed calibration puts in doubt and the batches the logbook shows in it.

        The window runs from the last passing calibration before ``record`` (or the unit's
        registration) to ``record``. Batches are those the unit was marked in use by
        (``mark_in_use``); callers add usage they know of otherwise (a scale read by a step).
        """
        eq = session.get(Equipment, record.equipment_id)
        assert eq is not None  # a calibration row always has its equipment (foreign key)
        history = [(c.calibrated_at, c.passed) for c in self.calibrations(session, eq.tag) if c.id != record.id]
        since = last_pass_before(history, record.calibrated_at)
        query = select(StatusLogEntry).where(
            StatusLogEntry.equipment_id == eq.id,
            StatusLogEntry.to_status == EquipmentStatus.IN_USE.value,
            StatusLogEntry.at <= record.calibrated_at,
        )
        if since is not None:
            query = query.where(StatusLogEntry.at >= since)
        refs = sorted({e.reference for e in session.scalars(query) if e.reference})
        return Impact(
            tag=eq.tag, passed=record.passed, since=since or eq.created_at, until=record.calibrated_at, batches=refs
        )

    def record_maintenance(
        self,
        session: Session,
        *,
        actor: str,
        unit: str,
        kind: MaintenanceKind | str,
        description: str,
        performed_by: str | None = None,
        contractor: bool = False,
        at: dt.datetime | None = None,
        return_to_service: bool = False,
    ) -> MaintenanceRecord:
        """Record maintenance work on ``unit`` (audited). ``return_to_service`` ends MAINTENANCE or
        OUT_OF_SERVICE: the unit becomes DIRTY (clean it, and recalibrate it if a calibration failed,
        before use). Raises StatusChangeRefused on a unit in use by a batch or without a description.
        """
        eq = self.get(session, unit)
        kind = parse_maintenance_kind(kind)
        if not description.strip():
            raise StatusChangeRefused(f"{unit}: a maintenance record needs a description of the work done")
        if eq.status == EquipmentStatus.IN_USE.value:
            raise StatusChangeRefused(f"{unit} is in use by {eq.in_use_by}: release it before maintenance")
        now = self.clock.now()
        at = at or now
        check_calibration_times(unit, at=at, now=now, due_at=None)
        record = MaintenanceRecord(
            id=new_id(),
            equipment_id=eq.id,
            performed_at=at,
            actor=actor,
            kind=kind.value,
            description=description,
            performed_by=(performed_by or "").strip() or actor,
            contractor=contractor,
            returned_to_service=return_to_service,
        )
        session.add(record)
        after = {
            "performed_at": _iso(at),
            "kind": kind.value,
            "description": description,
            "performed_by": record.performed_by,
            "contractor": contractor,
            "returned_to_service": return_to_service,
        }
        self.audit.record(
            session,
            actor=actor,
            action="equipment.maintenance.recorded",
            entity=Entity("equipment", eq.tag),
            after=after,
        )
        session.flush()
        if return_to_service and eq.status in (EquipmentStatus.MAINTENANCE.value, EquipmentStatus.OUT_OF_SERVICE.value):
            self._change(
                session,
                eq,
                actor=actor,
                status=EquipmentStatus.DIRTY,
                reason=f"returned to service after {kind.value} maintenance",
                reference=record.id,
            )
        return record

    def maintenances(self, session: Session, tag: str) -> list[MaintenanceRecord]:
        """The maintenance records of ``tag``, oldest first."""
        eq = self.get(session, tag)
        query = select(MaintenanceRecord).where(MaintenanceRecord.equipment_id == eq.id)
        return list(session.scalars(query.order_by(MaintenanceRecord.performed_at)))
