"""Read-only queries the batch record needs, each one statement per kind of row.

A 1,000-step batch is read with a handful of queries, not one per step.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from audit.models import AuditEvent
from ebr.execution.models import Batch, BatchStep, Deviation, RecordSignature, StepEntry
from ebr.materials.models import Container, Lot, Material, MaterialConsumption
from equipment.models import CalibrationRecord, CleaningRecord, Equipment, TrendPoint
from signatures.models import Signature, UserAccount


def steps(session: Session, batch: Batch) -> list[BatchStep]:
    """Every procedural element of ``batch`` in control-recipe order."""
    return list(session.scalars(select(BatchStep).where(BatchStep.batch_id == batch.id).order_by(BatchStep.position)))


def entries(session: Session, batch: Batch) -> dict[str, list[StepEntry]]:
    """Step id → its recorded values (originals and corrections), oldest first."""
    found: dict[str, list[StepEntry]] = defaultdict(list)
    query = select(StepEntry).where(StepEntry.batch_id == batch.id).order_by(StepEntry.recorded_at, StepEntry.id)
    for entry in session.scalars(query):
        found[entry.step_id].append(entry)
    return found


def record_signatures(session: Session, batch: Batch) -> list[RecordSignature]:
    """Every signature given on the batch's steps, deviations, corrections and the batch itself."""
    query = select(RecordSignature).where(RecordSignature.batch_id == batch.id)
    return list(session.scalars(query.order_by(RecordSignature.signed_at, RecordSignature.id)))


def batch_signatures(session: Session, batch: Batch) -> list[str]:
    """Ids of signatures whose subject is the batch itself (review, release, rejection), oldest first."""
    query = select(Signature.id).where(
        Signature.subject_type == "batch", Signature.subject_id.in_([batch.number, batch.id])
    )
    return list(session.scalars(query.order_by(Signature.ts, Signature.id)))


def signature_rows(session: Session, ids: Iterable[str]) -> dict[str, Signature]:
    """Signature id → its row (record and signed content bytes)."""
    wanted = sorted(set(ids))
    found: dict[str, Signature] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.update({row.id: row for row in session.scalars(select(Signature).where(Signature.id.in_(chunk)))})
    return found


def full_names(session: Session, user_ids: Iterable[str]) -> dict[str, str]:
    """User id → full name, for the people named in the record."""
    wanted = sorted({u for u in user_ids if u and not u.startswith("system:")})
    rows = session.execute(select(UserAccount.user_id, UserAccount.full_name).where(UserAccount.user_id.in_(wanted)))
    return {str(user_id): str(name) for user_id, name in rows}


def deviations(session: Session, batch: Batch) -> list[Deviation]:
    query = select(Deviation).where(Deviation.batch_id == batch.id)
    return list(session.scalars(query.order_by(Deviation.opened_at, Deviation.number)))


def consumptions(session: Session, batch: Batch) -> list[tuple[MaterialConsumption, Lot, Material | None]]:
    """What the batch consumed, with each lot and its material."""
    query = (
        select(MaterialConsumption, Lot, Material)
        .join(Lot, MaterialConsumption.lot_id == Lot.id)
        .outerjoin(Material, Lot.material_code == Material.code)
        .where(MaterialConsumption.batch_id == batch.id)
        .order_by(MaterialConsumption.consumed_at, MaterialConsumption.id)
    )
    return [(c, lot, mat) for c, lot, mat in session.execute(query)]


def output_lot(session: Session, batch: Batch) -> Lot | None:
    return session.scalars(select(Lot).where(Lot.produced_by == batch.id)).first()


def containers(session: Session, barcodes: Iterable[str]) -> dict[str, Container]:
    wanted = sorted(set(barcodes))
    return {c.barcode: c for c in session.scalars(select(Container).where(Container.barcode.in_(wanted)))}


def equipment(
    session: Session, tags: Iterable[str]
) -> list[tuple[Equipment, list[CleaningRecord], list[CalibrationRecord]]]:
    """The units used with their cleaning and calibration records."""
    units = list(session.scalars(select(Equipment).where(Equipment.tag.in_(sorted(set(tags)))).order_by(Equipment.tag)))
    result = []
    for unit in units:
        cleanings = session.scalars(
            select(CleaningRecord).where(CleaningRecord.equipment_id == unit.id).order_by(CleaningRecord.cleaned_at)
        )
        calibrations = session.scalars(
            select(CalibrationRecord)
            .where(CalibrationRecord.equipment_id == unit.id)
            .order_by(CalibrationRecord.calibrated_at)
        )
        result.append((unit, list(cleanings), list(calibrations)))
    return result


def trend_points(session: Session, batch: Batch) -> dict[tuple[str, str], list[TrendPoint]]:
    """(step path, tag) → the 1 s trend points recorded while the batch's phases ran."""
    prefix = f"{batch.id}:"
    query = (
        select(TrendPoint)
        .where(TrendPoint.phase_ref.startswith(prefix, autoescape=True))
        .order_by(TrendPoint.phase_ref, TrendPoint.tag, TrendPoint.at, TrendPoint.id)
    )
    found: dict[tuple[str, str], list[TrendPoint]] = defaultdict(list)
    for point in session.scalars(query):
        found[((point.phase_ref or "")[len(prefix) :], point.tag)].append(point)
    return found


def audit_events(
    session: Session,
    batch: Batch,
    *,
    signature_ids: set[str],
    subjects: Iterable[str],
    lots: Iterable[str],
    upto: int,
) -> list[dict[str, Any]]:
    """The batch's events up to ``upto``: batch, steps, deviations, its signatures, lots it used or made.

    ``subjects`` are the ids of the deviations and corrected entries that were signed (a
    signature's event names its subject by row id). These are the events a batch bundle
    shows whole; every other event in range is redacted.
    """
    number = batch.number
    lot_numbers = sorted(set(lots))
    query = (
        select(AuditEvent.seq, AuditEvent.canonical)
        .where(AuditEvent.seq <= upto)
        .where(
            or_(
                and_(AuditEvent.entity_type == "batch", AuditEvent.entity_id == number),
                and_(AuditEvent.entity_type == "batch_step", AuditEvent.entity_id.startswith(f"{number}/")),
                and_(AuditEvent.entity_type == "deviation", AuditEvent.entity_id.startswith(f"DEV-{number}-")),
                and_(
                    AuditEvent.entity_type.in_(["deviation", "step_entry"]),
                    AuditEvent.entity_id.in_(sorted(set(subjects))),
                ),
                and_(AuditEvent.entity_type == "lot", AuditEvent.entity_id.in_(lot_numbers)),
            )
        )
        .order_by(AuditEvent.seq)
    )
    events = []
    for _seq, data in session.execute(query):
        event = json.loads(data)
        if _belongs(event, batch, signature_ids):
            events.append(event)
    return events


def _belongs(event: dict[str, Any], batch: Batch, signature_ids: set[str]) -> bool:
    entity = event.get("entity") or {}
    if event["action"] == "signature.applied":
        return str((event.get("after") or {}).get("id")) in signature_ids
    if entity.get("type") == "lot":
        after = event.get("after") or {}
        # Only this batch's consumption and its output lot's own events; other batches' use is theirs.
        return (
            after.get("batch") == batch.id or after.get("produced_by") == batch.id or entity.get("id") == batch.number
        )
    return True
