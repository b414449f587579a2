"""A step's recorded values with their corrections, as the execution views show them.

A correction never overwrites (EU GMP Annex 11 §8.2): the original row stays, marked
superseded, and the correction points at it. The views show both, the original struck
through, with who corrected it, when, why and the correction's signature.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from ebr.execution.corrections import CORRECTABLE_SOURCES, OPEN_STATUSES
from ebr.execution.models import Batch, BatchStep, RecordSignature, StepEntry

# The meaning a correction is signed with: the corrector performed the correction.
CORRECTION_MEANING = "performed"


@dataclass(frozen=True)
class EntryLine:
    """One recorded value, with the value it corrects and the correction that replaced it (if any)."""

    entry: StepEntry
    original: StepEntry | None = None
    corrected_by: StepEntry | None = None
    signature: RecordSignature | None = None
    correctable: bool = False

    @property
    def current(self) -> bool:
        return self.entry.superseded_at is None


@dataclass(frozen=True)
class EntryHistory:
    """Every value recorded on a step, oldest first, with the links between originals and corrections."""

    lines: list[EntryLine] = field(default_factory=list)

    def line(self, entry_id: str) -> EntryLine | None:
        return next((line for line in self.lines if line.entry.id == entry_id), None)


def correctable(batch: Batch, entry: StepEntry) -> bool:
    """The engine's rule (``ebr.execution.corrections``): a current, manually entered value of an open batch."""
    return entry.superseded_at is None and entry.source in CORRECTABLE_SOURCES and batch.status in OPEN_STATUSES


def history(session: Session, batch: Batch, step: BatchStep) -> EntryHistory:
    """All values of ``step`` (every run, corrected ones included), oldest first."""
    query = select(StepEntry).where(StepEntry.step_id == step.id).order_by(StepEntry.recorded_at, StepEntry.id)
    rows = list(session.scalars(query))
    by_id = {row.id: row for row in rows}
    replaced_by = {row.corrects: row for row in rows if row.corrects}
    corrections = [row.id for row in rows if row.corrects]
    signatures: dict[str, RecordSignature] = {}
    if corrections:
        signed = select(RecordSignature).where(
            RecordSignature.subject_type == "step_entry", RecordSignature.subject_id.in_(corrections)
        )
        signatures = {s.subject_id: s for s in session.scalars(signed)}
    lines = [
        EntryLine(
            entry=row,
            original=by_id.get(row.corrects) if row.corrects else None,
            corrected_by=replaced_by.get(row.id),
            signature=signatures.get(row.id),
            correctable=correctable(batch, row),
        )
        for row in rows
    ]
    return EntryHistory(lines)
