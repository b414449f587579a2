"""Golden batches: released batches marked as reference, and a batch's trend over their band.

The band is built from the equipment trend recorded while each reference batch ran
the same phase (``equipment_trend`` rows of ``<batch id>:<step path>``), aligned to
the phase's start, as mean ± k·σ (:func:`ebr.analytics.stats.reference_band`).
Marking and unmarking are audited in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.chain import Entity
from audit.trail import AuditTrail
from ebr.analytics import stats
from ebr.analytics.models import ReferenceBatch
from ebr.core.clock import Clock
from ebr.core.errors import NotFound, StateError, ValidationError
from ebr.execution.models import Batch, BatchStep
from ebr.execution.rules import BatchStatus
from equipment.models import TrendPoint


def _batch(session: Session, ref: str) -> Batch:
    found = session.scalars(select(Batch).where((Batch.id == ref) | (Batch.number == ref))).first()
    if found is None:
        raise NotFound(f"no batch {ref!r}; `ebr batch list` shows the batches")
    return found


def mark_reference(
    session: Session, audit: AuditTrail, clock: Clock, *, actor: str, ref: str, reason: str
) -> ReferenceBatch:
    """Mark a released batch as a golden batch of its product (audited)."""
    batch = _batch(session, ref)
    if batch.status != BatchStatus.RELEASED.value:
        raise StateError(f"batch {batch.number} is {batch.status}; only a released batch can be a reference")
    if not (reason or "").strip():
        raise ValidationError("marking a reference batch needs a reason (e.g. 'PPQ batch, all CQAs on target')")
    if session.get(ReferenceBatch, batch.id) is not None:
        raise StateError(f"batch {batch.number} is already a reference batch")
    row = ReferenceBatch(
        batch_id=batch.id, product_code=batch.product_code, marked_at=clock.now(), marked_by=actor, reason=reason
    )
    session.add(row)
    session.flush()
    audit.record(
        session, actor=actor, action="analytics.reference.marked", entity=Entity("batch", batch.number),
        after={"reference": True, "product": batch.product_code}, reason=reason,
    )  # fmt: skip
    return row


def unmark_reference(session: Session, audit: AuditTrail, *, actor: str, ref: str, reason: str) -> None:
    """Take a batch off the reference set (audited)."""
    batch = _batch(session, ref)
    row = session.get(ReferenceBatch, batch.id)
    if row is None:
        raise StateError(f"batch {batch.number} is not a reference batch")
    if not (reason or "").strip():
        raise ValidationError("removing a reference batch needs a reason")
    session.delete(row)
    session.flush()
    audit.record(
        session, actor=actor, action="analytics.reference.removed", entity=Entity("batch", batch.number),
        before={"reference": True, "marked_by": row.marked_by}, after={"reference": False}, reason=reason,
    )  # fmt: skip


def references(session: Session, product_code: str) -> list[tuple[ReferenceBatch, str]]:
    """The reference batches of a product with their numbers, by batch number."""
    query = (
        select(ReferenceBatch, Batch.number)
        .join(Batch, Batch.id == ReferenceBatch.batch_id)
        .where(ReferenceBatch.product_code == product_code)
        .order_by(Batch.number)
    )
    return [(row, number) for row, number in session.execute(query).all()]


def phase_series(session: Session, batch: Batch, path: str, tag: str) -> list[tuple[float, float]]:
    """(seconds since the phase started, mean of the trend bucket) of ``tag`` while ``path`` ran."""
    step = session.scalars(select(BatchStep).where(BatchStep.batch_id == batch.id, BatchStep.path == path)).first()
    query = (
        select(TrendPoint.at, TrendPoint.mean)
        .where(TrendPoint.phase_ref == f"{batch.id}:{path}", TrendPoint.tag == tag)
        .order_by(TrendPoint.at, TrendPoint.id)
    )
    rows = session.execute(query).all()
    if not rows:
        return []
    start: dt.datetime = step.started_at if step is not None and step.started_at is not None else rows[0].at
    # Floats only for the statistics and the drawing; the trend stays Decimal in the database.
    return [((at - start).total_seconds(), float(mean)) for at, mean in rows]


@dataclass(frozen=True)
class Overlay:
    """A batch's phase trend over the band of its product's reference batches."""

    batch: str
    path: str
    tag: str
    band: stats.Band
    series: list[tuple[float, float]]
    outside: list[stats.Outside]
    references: list[str]


def overlay(session: Session, *, ref: str, path: str, tag: str, k: float = 3.0, step: float = 60.0) -> Overlay:
    """The trend of ``tag`` during phase ``path`` of batch ``ref`` against its reference band."""
    batch = _batch(session, ref)
    series_of = []
    numbers = []
    for row, number in references(session, batch.product_code):
        if row.batch_id == batch.id:
            continue
        series = phase_series(session, _batch(session, row.batch_id), path, tag)
        if series:
            series_of.append(series)
            numbers.append(number)
    band = stats.reference_band(series_of, step=step, k=k)
    series = phase_series(session, batch, path, tag)
    if not series:
        raise NotFound(f"batch {batch.number} has no trend of {tag} during {path}; pick a phase that ran on it")
    return Overlay(batch.number, path, tag, band, series, stats.outside_band(band, series), numbers)
