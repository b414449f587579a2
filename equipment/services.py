"""The plant model's service: equipment, its status logbook, cleaning and calibration.

Every change writes the logbook and appends its audit event in the caller's
transaction (the caller commits). Built once in ``ebr.bootstrap`` as
``services.equipment``.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.chain import Entity
from audit.trail import AuditTrail
from ebr.core.clock import Clock
from ebr.core.ids import new_id
from equipment.calibration import CalibrationRecords
from equipment.config import PlantConfig
from equipment.errors import EquipmentNotFound, StatusChangeRefused
from equipment.models import (
    Alarm,
    Area,
    CalibrationRecord,
    CleaningRecord,
    Equipment,
    StatusLogEntry,
)
from equipment.rules import (
    EquipmentKind,
    EquipmentStatus,
    OverdueCalibration,
    UsabilitySnapshot,
    overdue_calibration,
    usability_problem,
)

log = logging.getLogger(__name__)


def _entity(eq: Equipment) -> Entity:
    return Entity("equipment", eq.tag)


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


class EquipmentService(CalibrationRecords):
    """Register equipment, change its status, record cleaning and calibration, check usability.

    Calibration, its impact window and maintenance records are in :mod:`equipment.calibration`."""

    def __init__(self, *, audit: AuditTrail, clock: Clock) -> None:
        self.audit = audit
        self.clock = clock

    # -- queries ---------------------------------------------------------------------

    def get(self, session: Session, tag: str) -> Equipment:
        """The equipment called ``tag``; raises EquipmentNotFound."""
        eq = session.scalars(select(Equipment).where(Equipment.tag == tag)).one_or_none()
        if eq is None:
            raise EquipmentNotFound(
                f"no equipment with tag {tag!r}: register it first (ebr plant sync or the admin UI)"
            )
        return eq

    def find(self, session: Session, tag: str) -> Equipment | None:
        """The equipment called ``tag`` or None."""
        return session.scalars(select(Equipment).where(Equipment.tag == tag)).one_or_none()

    def all(self, session: Session, *, kind: str | None = None) -> list[Equipment]:
        """All equipment ordered by tag, optionally of one kind."""
        query = select(Equipment).order_by(Equipment.tag)
        if kind is not None:
            query = query.where(Equipment.kind == kind)
        return list(session.scalars(query))

    def logbook(self, session: Session, tag: str) -> list[StatusLogEntry]:
        """The status logbook of ``tag``, oldest first."""
        eq = self.get(session, tag)
        query = select(StatusLogEntry).where(StatusLogEntry.equipment_id == eq.id).order_by(StatusLogEntry.id)
        return list(session.scalars(query))

    def cleanings(self, session: Session, tag: str) -> list[CleaningRecord]:
        eq = self.get(session, tag)
        query = select(CleaningRecord).where(CleaningRecord.equipment_id == eq.id)
        return list(session.scalars(query.order_by(CleaningRecord.cleaned_at)))

    def calibrations(self, session: Session, tag: str) -> list[CalibrationRecord]:
        eq = self.get(session, tag)
        query = select(CalibrationRecord).where(CalibrationRecord.equipment_id == eq.id)
        return list(session.scalars(query.order_by(CalibrationRecord.calibrated_at)))

    def check_usable(
        self, session: Session, unit: str, at: dt.datetime | None = None, *, batch_ref: str | None = None
    ) -> None:
        """Raise an EquipmentNotUsable subclass when ``unit`` may not be used at ``at``.

        EquipmentDirty, CleanHoldExpired, CalibrationOverdue or OutOfService; the
        message says what to do. Equipment in use by ``batch_ref`` is usable by it.
        """
        eq = self.get(session, unit)
        problem = usability_problem(_snapshot(eq), at or self.clock.now(), batch_ref=batch_ref)
        if problem is not None:
            raise problem

    # -- changes ---------------------------------------------------------------------

    def ensure_area(self, session: Session, *, actor: str, name: str, description: str = "") -> Area:
        """The area called ``name``, created (and audited) when missing."""
        area = session.scalars(select(Area).where(Area.name == name)).one_or_none()
        if area is None:
            area = Area(id=new_id(), name=name, description=description)
            session.add(area)
            session.flush()
            after = {"name": name, "description": description}
            self.audit.record(
                session, actor=actor, action="equipment.area.created", entity=Entity("area", name), after=after
            )
        return area

    def register(
        self,
        session: Session,
        *,
        actor: str,
        tag: str,
        kind: EquipmentKind | str,
        name: str,
        reason: str,
        area: str | None = None,
        parent: str | None = None,
        clean_hold_hours: int | None = None,
        requires_calibration: bool = False,
        calibration_interval_days: int | None = None,
        capacity: Decimal | None = None,
        capacity_unit: str | None = None,
    ) -> Equipment:
        """Register new equipment; it starts DIRTY (it must be cleaned before first use)."""
        if self.find(session, tag) is not None:
            raise StatusChangeRefused(
                f"equipment {tag!r} is already registered; change it instead of registering it again"
            )
        kind = EquipmentKind(kind)
        if requires_calibration and not calibration_interval_days:
            raise StatusChangeRefused(f"{tag}: equipment that requires calibration needs calibration_interval_days")
        now = self.clock.now()
        eq = Equipment(
            id=new_id(),
            tag=tag,
            kind=kind.value,
            name=name,
            area_id=self.ensure_area(session, actor=actor, name=area).id if area else None,
            parent_id=self.get(session, parent).id if parent else None,
            status=EquipmentStatus.DIRTY.value,
            status_changed_at=now,
            clean_hold_hours=clean_hold_hours,
            requires_calibration=requires_calibration,
            calibration_interval_days=calibration_interval_days,
            capacity=capacity,
            capacity_unit=capacity_unit,
            created_at=now,
        )
        session.add(eq)
        session.flush()
        self._log(session, eq, actor=actor, from_status=None, reason=reason, reference=None)
        after = _describe(eq) | {"area": area, "parent": parent}
        self.audit.record(
            session, actor=actor, action="equipment.registered", entity=_entity(eq), after=after, reason=reason
        )
        return eq

    def set_status(
        self,
        session: Session,
        *,
        actor: str,
        unit: str,
        status: EquipmentStatus | str,
        reason: str,
        reference: str | None = None,
    ) -> Equipment:
        """Change the status of ``unit`` with a reason; logged and audited.

        CLEAN is reached only through :meth:`record_cleaning` and IN_USE only through
        :meth:`mark_in_use`, so that their records exist; both raise StatusChangeRefused.
        """
        status = EquipmentStatus(status)
        if status is EquipmentStatus.CLEAN:
            raise StatusChangeRefused(
                f"{unit}: record a cleaning to make it clean (a status change alone is not enough)"
            )
        if status is EquipmentStatus.IN_USE:
            raise StatusChangeRefused(f"{unit}: use mark_in_use with the batch, which checks it is usable first")
        if not reason.strip():
            raise StatusChangeRefused(f"{unit}: a status change needs a reason")
        eq = self.get(session, unit)
        self._change(session, eq, actor=actor, status=status, reason=reason, reference=reference)
        return eq

    def mark_in_use(self, session: Session, *, actor: str, unit: str, batch_ref: str) -> Equipment:
        """Check ``unit`` is usable, then mark it IN_USE by ``batch_ref`` (raises EquipmentNotUsable)."""
        eq = self.get(session, unit)
        if eq.status == EquipmentStatus.IN_USE.value and eq.in_use_by == batch_ref:
            return eq
        self.check_usable(session, unit, batch_ref=batch_ref)
        self._change(
            session,
            eq,
            actor=actor,
            status=EquipmentStatus.IN_USE,
            reason=f"in use by {batch_ref}",
            reference=batch_ref,
        )
        return eq

    def mark_dirty(
        self, session: Session, *, actor: str, unit: str, reason: str = "used", reference: str | None = None
    ) -> Equipment:
        """Mark ``unit`` DIRTY (after use); releases it from its batch."""
        eq = self.get(session, unit)
        if eq.status == EquipmentStatus.DIRTY.value:
            return eq
        self._change(session, eq, actor=actor, status=EquipmentStatus.DIRTY, reason=reason, reference=reference)
        return eq

    def record_cleaning(
        self, session: Session, *, actor: str, unit: str, method: str, comment: str = "", at: dt.datetime | None = None
    ) -> CleaningRecord:
        """Record a cleaning of ``unit``: it becomes CLEAN until its clean hold expires."""
        eq = self.get(session, unit)
        if eq.status in (
            EquipmentStatus.IN_USE.value,
            EquipmentStatus.OUT_OF_SERVICE.value,
            EquipmentStatus.MAINTENANCE.value,
        ):
            # Back from maintenance only by a supervisor's status change (to dirty), then cleaning.
            state = "in maintenance" if eq.status == EquipmentStatus.MAINTENANCE.value else eq.status.replace("_", " ")
            raise StatusChangeRefused(
                f"{unit} is {state}: release it (mark it dirty) or return it to service first, then record the cleaning"
            )
        if not method.strip():
            raise StatusChangeRefused(f"{unit}: a cleaning record needs the cleaning method or SOP")
        at = at or self.clock.now()
        expires = at + dt.timedelta(hours=eq.clean_hold_hours) if eq.clean_hold_hours is not None else None
        record = CleaningRecord(
            id=new_id(),
            equipment_id=eq.id,
            cleaned_at=at,
            actor=actor,
            method=method,
            expires_at=expires,
            comment=comment,
        )
        session.add(record)
        eq.last_cleaned_at = at
        after = {"cleaned_at": _iso(at), "method": method, "expires_at": _iso(expires), "comment": comment}
        self.audit.record(session, actor=actor, action="equipment.cleaning.recorded", entity=_entity(eq), after=after)
        self._change(
            session, eq, actor=actor, status=EquipmentStatus.CLEAN, reason=f"cleaned ({method})", reference=None
        )
        return record

    def flag_overdue_calibrations(
        self, session: Session, *, actor: str, at: dt.datetime | None = None
    ) -> list[OverdueCalibration]:
        """Take every unit whose calibration is overdue at ``at`` out of use (MAINTENANCE).

        The rule is :func:`equipment.rules.overdue_calibration`; each change writes the
        logbook and an audit event in the caller's transaction. Units already in
        maintenance or out of service are left alone. A unit in use by a batch keeps its
        status (logged at WARNING) and is flagged by the first sweep after its release.
        Returns every overdue unit found, those left in use with ``in_use`` set.
        """
        at = at or self.clock.now()
        query = select(Equipment).where(Equipment.requires_calibration.is_(True)).order_by(Equipment.tag)
        found = []
        for eq in list(session.scalars(query)):
            overdue = overdue_calibration(_snapshot(eq), at)
            if overdue is None:
                continue
            if overdue.in_use:
                log.warning(
                    "%s is in use by %s and its calibration is overdue: %s", eq.tag, eq.in_use_by, overdue.reason
                )
            else:
                self._change(
                    session, eq, actor=actor, status=EquipmentStatus.MAINTENANCE, reason=overdue.reason, reference=None
                )
            found.append(overdue)
        return found

    def acknowledge_alarm(self, session: Session, *, actor: str, alarm_id: int, comment: str) -> Alarm:
        """Acknowledge an interlock alarm with a comment (audited); raises EquipmentNotFound."""
        alarm = session.get(Alarm, alarm_id)
        if alarm is None:
            raise EquipmentNotFound(f"no alarm {alarm_id}")
        if alarm.acknowledged_at is not None:
            raise StatusChangeRefused(f"alarm {alarm_id} was already acknowledged by {alarm.acknowledged_by}")
        if not comment.strip():
            raise StatusChangeRefused("acknowledging an alarm needs a comment (what was found, what was done)")
        alarm.acknowledged_at, alarm.acknowledged_by = self.clock.now(), actor
        self.audit.record(
            session,
            actor=actor,
            action="equipment.alarm.acknowledged",
            entity=Entity("alarm", str(alarm_id)),
            before={"acknowledged_at": None},
            after={"acknowledged_at": alarm.acknowledged_at},
            reason=comment,
        )
        return alarm

    def register_from_config(self, session: Session, *, actor: str, config: PlantConfig) -> list[str]:
        """Register every unit of ``config`` not yet known (starts DIRTY); return the new tags."""
        added = []
        for tag, spec in config.equipment.items():
            if self.find(session, tag) is not None:
                continue
            capacity = spec.get("capacity")
            self.register(
                session,
                actor=actor,
                tag=tag,
                kind=str(spec.get("kind", "unit")),
                name=str(spec.get("name", tag)),
                reason=f"registered from plant configuration {config.path or ''}".strip(),
                area=config.area,
                clean_hold_hours=spec.get("clean_hold_hours"),
                requires_calibration=bool(spec.get("requires_calibration", False)),
                calibration_interval_days=spec.get("calibration_interval_days"),
                capacity=Decimal(str(capacity)) if capacity is not None else None,
                capacity_unit=spec.get("capacity_unit"),
            )
            added.append(tag)
        return added

    # -- internals -------------------------------------------------------------------

    def _change(
        self,
        session: Session,
        eq: Equipment,
        *,
        actor: str,
        status: EquipmentStatus,
        reason: str,
        reference: str | None,
    ) -> None:
        before = {"status": eq.status, "in_use_by": eq.in_use_by}
        previous = eq.status
        eq.status = status.value
        eq.status_changed_at = self.clock.now()
        eq.in_use_by = reference if status is EquipmentStatus.IN_USE else None
        self._log(session, eq, actor=actor, from_status=previous, reason=reason, reference=reference)
        after = {"status": eq.status, "in_use_by": eq.in_use_by}
        self.audit.record(
            session,
            actor=actor,
            action="equipment.status.changed",
            entity=_entity(eq),
            before=before,
            after=after,
            reason=reason,
        )

    def _log(
        self,
        session: Session,
        eq: Equipment,
        *,
        actor: str,
        from_status: str | None,
        reason: str,
        reference: str | None,
    ) -> None:
        session.add(
            StatusLogEntry(
                equipment_id=eq.id,
                at=self.clock.now(),
                actor=actor,
                from_status=from_status,
                to_status=eq.status,
                reason=reason,
                reference=reference,
            )
        )
        session.flush()


def _snapshot(eq: Equipment) -> UsabilitySnapshot:
    return UsabilitySnapshot(
        tag=eq.tag,
        status=EquipmentStatus(eq.status),
        in_use_by=eq.in_use_by,
        clean_hold_hours=eq.clean_hold_hours,
        last_cleaned_at=eq.last_cleaned_at,
        requires_calibration=eq.requires_calibration,
        calibration_due_at=eq.calibration_due_at,
    )


def _describe(eq: Equipment) -> dict[str, Any]:
    return {
        "tag": eq.tag,
        "kind": eq.kind,
        "name": eq.name,
        "status": eq.status,
        "clean_hold_hours": eq.clean_hold_hours,
        "requires_calibration": eq.requires_calibration,
        "calibration_interval_days": eq.calibration_interval_days,
        "capacity": eq.capacity,
        "capacity_unit": eq.capacity_unit,
    }
