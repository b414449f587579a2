"""Calibration, maintenance and the logbook timeline, one unit of work per call.

The equipment service owns the records and their audit events; this module adds the
batches (``ebr.execution``): the batches that used a unit (its unit procedures, the
scale, tank or unit a phase names, and the logbook's "in use by"), the impact of a
failed calibration, and the one timeline the logbook page, API and PDF show.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from audit.chain import Entity
from ebr.core.errors import NotFound, ValidationError
from ebr.execution.models import Batch, BatchStep
from ebr.execution.plan import build_plan
from ebr.execution.training import units_of
from equipment.errors import EquipmentNotFound, EquipmentNotUsable
from equipment.models import Area, CalibrationRecord, CleaningRecord, Equipment, MaintenanceRecord
from equipment.rules import Impact
from equipment.services import EquipmentService
from recipes.model import Recipe
from signatures.models import Signature
from signatures.signing import SignatureRecord, require_own_signature

# The meaning of the signature on a calibration result (signatures.permissions.MEANINGS).
CALIBRATED = "calibrated"


@dataclass(frozen=True)
class Usage:
    """One batch's use of a unit: first step started, last step ended, the steps."""

    batch: str
    recipe: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    steps: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LogbookLine:
    """One line of the equipment logbook timeline."""

    at: dt.datetime
    kind: str  # usage, cleaning, calibration, maintenance, status
    who: str
    what: str
    reference: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at, "kind": self.kind, "who": self.who, "what": self.what, "reference": self.reference}


@dataclass(frozen=True)
class ImpactReport:
    """A calibration and, when it failed, the batches that used the unit since its last pass."""

    calibration: CalibrationRecord
    impact: Impact
    batches: list[Usage]


def usage(
    session: Session, tag: str, *, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> list[Usage]:
    """The batches whose steps used ``tag`` (started before ``until``, not ended before ``since``)."""
    query = select(BatchStep, Batch).join(Batch, Batch.id == BatchStep.batch_id)
    query = query.where(BatchStep.level == "phase", BatchStep.started_at.is_not(None))
    # Only batches whose unit procedure is the unit or whose control recipe names it (checked exactly below).
    query = query.where((BatchStep.unit == tag) | cast(Batch.control_recipe, Text).contains(tag))
    if until is not None:
        query = query.where(BatchStep.started_at <= until)
    if since is not None:
        query = query.where((BatchStep.ended_at.is_(None)) | (BatchStep.ended_at >= since))
    found: dict[str, tuple[Batch, list[BatchStep]]] = {}
    plans: dict[str, Any] = {}
    for step, batch in session.execute(query.order_by(BatchStep.started_at)):
        if step.unit != tag:
            plan = plans.get(batch.control_recipe_hash)
            if plan is None:
                plan = plans[batch.control_recipe_hash] = build_plan(Recipe.from_dict(batch.control_recipe))
            if tag not in units_of(step.unit, plan.phase(step.path)):
                continue
        found.setdefault(batch.number, (batch, []))[1].append(step)
    out = []
    for number, (batch, steps) in found.items():
        started = min(s.started_at for s in steps if s.started_at is not None)
        ends = [s.ended_at for s in steps]
        ended = None if any(e is None for e in ends) else max(e for e in ends if e is not None)
        out.append(
            Usage(number, f"{batch.recipe_name} v{batch.recipe_version}", started, ended, [s.path for s in steps])
        )
    return sorted(out, key=lambda u: u.started_at)


def impact(session: Session, equipment: EquipmentService, record_id: str) -> ImpactReport:
    """The calibration ``record_id`` with its impact assessment (batches only for a failed one)."""
    record = equipment.calibration(session, record_id)
    window = equipment.impact_of(session, record)
    if record.passed:
        return ImpactReport(record, window, [])
    used = {u.batch: u for u in usage(session, window.tag, since=window.since, until=window.until)}
    for ref in window.batches:  # marked in use through the logbook but with no step on record
        if ref not in used:
            batch = session.scalars(select(Batch).where((Batch.number == ref) | (Batch.id == ref))).first()
            if batch is not None and batch.started_at is not None:
                recipe = f"{batch.recipe_name} v{batch.recipe_version}"
                used[batch.number] = Usage(batch.number, recipe, batch.started_at, batch.ended_at)
    return ImpactReport(record, window, sorted(used.values(), key=lambda u: u.started_at))


def _who(name: str, contractor: bool) -> str:
    return f"{name} (contractor)" if contractor else name


def timeline(session: Session, equipment: EquipmentService, tag: str) -> list[LogbookLine]:
    """The logbook of ``tag``: usage by batches, cleaning, calibration, maintenance and status changes,
    oldest first."""
    lines: list[LogbookLine] = []
    for e in equipment.logbook(session, tag):
        change = f"{e.from_status or 'registered'} → {e.to_status}".replace("_", " ")
        lines.append(LogbookLine(e.at, "status", e.actor, f"{change}: {e.reason}", e.reference))
    for c in equipment.cleanings(session, tag):
        until = f", clean until {c.expires_at.isoformat()}" if c.expires_at else ""
        note = f" ({c.comment})" if c.comment else ""
        lines.append(LogbookLine(c.cleaned_at, "cleaning", c.actor, f"cleaned: {c.method}{until}{note}"))
    for k in equipment.calibrations(session, tag):
        result = "passed" if k.passed else "FAILED"
        parts = [f"calibration {result} by {_who(k.performed_by or k.actor, k.contractor)}"]
        if k.as_found:
            parts.append(f"as found: {k.as_found}")
        if k.as_left:
            parts.append(f"as left: {k.as_left}")
        if k.passed:
            parts.append(f"next due {k.due_at.date().isoformat()}")
        lines.append(LogbookLine(k.calibrated_at, "calibration", k.actor, "; ".join(parts), k.certificate or None))
    for m in equipment.maintenances(session, tag):
        back = "; returned to service" if m.returned_to_service else ""
        what = f"{m.kind} maintenance by {_who(m.performed_by, m.contractor)}: {m.description}{back}"
        lines.append(LogbookLine(m.performed_at, "maintenance", m.actor, what))
    for u in usage(session, tag):
        end = f" until {u.ended_at.isoformat()}" if u.ended_at else " (still in use)"
        steps = ", ".join(u.steps)
        lines.append(
            LogbookLine(u.started_at, "usage", "", f"used by batch {u.batch} ({u.recipe}){end}: {steps}", u.batch)
        )
    order = {"status": 0, "cleaning": 1, "calibration": 1, "maintenance": 1, "usage": 2}
    return sorted(lines, key=lambda line: (line.at, order[line.kind]))


# -- what the adapters share (web page, API, command) -----------------------------------


def plant_midnight(day: dt.date, timezone: str) -> dt.datetime:
    """The start of plant date ``day`` (a next-due date is due from its first moment)."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=zoneinfo.ZoneInfo(timezone))


def calibrate(
    session: Session, services: Any, *, actor: str, tag: str, data: Mapping[str, Any], user_id: str, password: str
) -> CalibrationRecord:
    """Record a calibration from adapter input (``passed``, ``calibrated_at``, ``next_due`` date,
    ``certificate``, ``as_found``, ``as_left``, ``performed_by``, ``contractor``, ``comment``) and
    sign it ``calibrated`` as ``actor`` (``user_id`` and ``password``, re-entered), in one unit of work.

    The result is a GMP record: the signature covers what the page showed (result, as found, as
    left, certificate, dates, who performed it) and is bound to the record (subject
    ``calibration``/id). An internal ``performed_by`` must be a user id; a contractor is a name.
    Raises NotPermitted (signing as someone else), ValidationError, the signing ceremony's errors
    or the equipment service's errors; nothing is stored on any of them."""
    require_own_signature(actor, user_id)
    performed_by = (data.get("performed_by") or "").strip() or None
    contractor = bool(data.get("contractor"))
    if contractor and performed_by is None:
        raise ValidationError("a calibration by a contractor needs the contractor's name (performed by)")
    if performed_by is not None and not contractor:
        try:
            performed_by = services.users.get(session, performed_by.lower()).user_id
        except NotFound:
            raise ValidationError(
                f"{performed_by!r} is not a user id: give the user who calibrated, or tick contractor and give the "
                "contractor's name"
            ) from None
    next_due = data.get("next_due")
    due_at = plant_midnight(next_due, services.settings.plant_timezone) if next_due is not None else None
    row: CalibrationRecord = services.equipment.record_calibration(
        session, actor=actor, unit=tag, passed=bool(data["passed"]),
        certificate=(data.get("certificate") or "").strip(),
        comment=data.get("comment") or "", at=data.get("calibrated_at"), due_at=due_at,
        as_found=data.get("as_found") or "", as_left=data.get("as_left") or "", performed_by=performed_by,
        contractor=contractor,
    )  # fmt: skip
    session.flush()
    services.signing.sign(
        session, subject=Entity("calibration", row.id), content=signed_content(tag, row), meaning=CALIBRATED,
        reason=row.comment or None, user_id=user_id, password=password,
    )  # fmt: skip
    return row


def signed_content(tag: str, k: CalibrationRecord) -> dict[str, Any]:
    """What the signer of a calibration signs: the result as it is recorded."""
    return {
        "calibration": k.id, "unit": tag, "passed": k.passed, "calibrated_at": k.calibrated_at, "due_at": k.due_at,
        "as_found": k.as_found, "as_left": k.as_left, "certificate": k.certificate,
        "performed_by": k.performed_by or k.actor, "contractor": k.contractor, "comment": k.comment,
    }  # fmt: skip


def calibration_signatures(session: Session, ids: list[str]) -> dict[str, SignatureRecord]:
    """The ``calibrated`` signature of each calibration of ``ids`` that has one (older records have none)."""
    if not ids:
        return {}
    rows = session.scalars(
        select(Signature).where(
            Signature.subject_type == "calibration", Signature.subject_id.in_(ids), Signature.meaning == CALIBRATED
        )
    )
    return {r.subject_id: SignatureRecord.from_record(json.loads(r.record)) for r in rows}


def signature_json(s: SignatureRecord | None) -> dict[str, Any] | None:
    """A signature as the API and pages show it, or None."""
    if s is None:
        return None
    return {"id": s.id, "signer": s.signer, "printed_name": s.printed_name, "meaning": s.meaning, "signed_at": s.ts}


def calibration_of(session: Session, equipment: EquipmentService, tag: str, record_id: str) -> CalibrationRecord:
    """The calibration ``record_id`` of unit ``tag``; EquipmentNotFound when it is another unit's."""
    eq = equipment.get(session, tag)
    record = equipment.calibration(session, record_id)
    if record.equipment_id != eq.id:
        raise EquipmentNotFound(f"{tag} has no calibration record {record_id!r}; its page lists its calibrations")
    return record


def status(session: Session, equipment: EquipmentService, eq: Equipment) -> dict[str, Any]:
    """A unit's status as the API and pages show it: usable now or why not."""
    problem = None
    try:
        equipment.check_usable(session, eq.tag)
    except EquipmentNotUsable as exc:
        problem = exc.message
    clean_until = None
    if eq.last_cleaned_at is not None and eq.clean_hold_hours is not None:
        clean_until = eq.last_cleaned_at + dt.timedelta(hours=eq.clean_hold_hours)
    area = session.get(Area, eq.area_id) if eq.area_id else None
    return {
        "tag": eq.tag, "name": eq.name, "kind": eq.kind, "area": area.name if area else None, "status": eq.status,
        "status_changed_at": eq.status_changed_at, "in_use_by": eq.in_use_by, "usable": problem is None,
        "problem": problem, "last_cleaned_at": eq.last_cleaned_at, "clean_until": clean_until,
        "requires_calibration": eq.requires_calibration, "calibration_due_at": eq.calibration_due_at,
        "capacity": eq.capacity, "capacity_unit": eq.capacity_unit,
    }  # fmt: skip


def cleaning_json(c: CleaningRecord) -> dict[str, Any]:
    return {
        "id": c.id, "cleaned_at": c.cleaned_at, "actor": c.actor, "method": c.method, "expires_at": c.expires_at,
        "comment": c.comment,
    }  # fmt: skip


def usage_json(u: Usage) -> dict[str, Any]:
    return {"batch": u.batch, "recipe": u.recipe, "started_at": u.started_at, "ended_at": u.ended_at, "steps": u.steps}


def calibration_json(session: Session, equipment: EquipmentService, k: CalibrationRecord) -> dict[str, Any]:
    """A calibration with the unit's status and, when it failed, its impact assessment."""
    eq = session.get(Equipment, k.equipment_id)
    assert eq is not None  # foreign key
    found = None
    if not k.passed:
        report = impact(session, equipment, k.id)
        found = {
            "since": report.impact.since, "until": report.impact.until,
            "batches": [usage_json(u) for u in report.batches],
        }  # fmt: skip
    signature = calibration_signatures(session, [k.id]).get(k.id)
    return {
        "id": k.id, "tag": eq.tag, "calibrated_at": k.calibrated_at, "passed": k.passed, "due_at": k.due_at,
        "certificate": k.certificate, "as_found": k.as_found, "as_left": k.as_left,
        "performed_by": k.performed_by or k.actor, "contractor": k.contractor, "recorded_by": k.actor,
        "comment": k.comment, "status": eq.status, "impact": found, "signature": signature_json(signature),
    }  # fmt: skip


def maintenance_json(m: MaintenanceRecord, status: str) -> dict[str, Any]:
    return {
        "id": m.id, "performed_at": m.performed_at, "kind": m.kind, "description": m.description,
        "performed_by": m.performed_by, "contractor": m.contractor, "returned_to_service": m.returned_to_service,
        "actor": m.actor, "status": status,
    }  # fmt: skip
