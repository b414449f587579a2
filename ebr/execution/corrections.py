"""Corrections of recorded values (EU GMP Annex 11 §8.2, 21 CFR 11.10(e)).

A correction never overwrites: the original entry stays, marked superseded, and a
new entry points at it with the reason; the corrector signs it. Values that came
from a scale, a scan or the plant cannot be corrected by typing; a deviation is
the way to deal with them. A corrected value is checked against the same limits
and opens a deviation when outside them.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ebr.core.errors import NotFound, StateError, ValidationError
from ebr.core.ids import new_id
from ebr.execution import deviations, phases
from ebr.execution.context import Context
from ebr.execution.engine import entity
from ebr.execution.models import Batch, BatchStep, Deviation, StepEntry
from ebr.execution.rules import BatchStatus
from ebr.materials.services import Credentials
from recipes.phases import DataEntry

CORRECTABLE_SOURCES = frozenset({"manual"})
OPEN_STATUSES = frozenset({BatchStatus.IN_EXECUTION.value, BatchStatus.COMPLETE.value})


def correct_entry(
    session: Session,
    ctx: Context,
    *,
    actor: str,
    entry_id: str,
    value: str,
    reason: str,
    signature: Credentials,
) -> tuple[StepEntry, Deviation | None]:
    """Correct a manually recorded value with a reason and a signature; returns the new entry."""
    old = session.get(StepEntry, entry_id)
    if old is None:
        raise NotFound(f"no recorded value {entry_id!r}")
    if old.superseded_at is not None:
        raise StateError("this value was already corrected; correct the newest value instead")
    if old.source not in CORRECTABLE_SOURCES:
        raise ValidationError(
            f"{old.name} came from the {old.source}; it cannot be typed over, open a deviation instead"
        )
    if not reason.strip():
        raise ValidationError("a correction needs a reason (what was wrong and why the new value is right)")
    if signature.user_id.strip().lower() != actor:
        raise ValidationError(
            f"a correction is signed by the person who makes it: sign as {actor}, or let {signature.user_id} "
            "make the correction signed in as themselves"
        )
    batch = ctx.batch(session, old.batch_id, lock=True)
    if batch.status not in OPEN_STATUSES:
        raise StateError(f"batch {batch.number} is {batch.status}; its record is closed to corrections")
    step = session.get(BatchStep, old.step_id)
    assert step is not None
    new_entry, spec = _checked(ctx, session, batch, step, old, value)
    now = ctx.clock.now()
    row = StepEntry(
        id=new_id(),
        batch_id=batch.id,
        step_id=step.id,
        name=old.name,
        value=new_entry.value,
        unit=new_entry.unit,
        in_limits=new_entry.in_limits,
        source="manual",
        recorded_at=now,
        recorded_by=actor,
        corrects=old.id,
        correction_reason=reason.strip(),
    )
    old.superseded_at = now
    session.add(row)
    content = {
        "batch": batch.number,
        "step": step.path,
        "name": old.name,
        "old": old.value,
        "new": row.value,
        "reason": reason.strip(),
    }
    ctx.sign(
        session,
        batch=batch,
        subject_type="step_entry",
        subject_id=row.id,
        content=content,
        credentials=signature,
        reason=reason.strip(),
    )
    dev = None
    if spec is not None:
        dev = deviations.open_deviation(
            session,
            ctx,
            actor=actor,
            batch=batch,
            step_path=step.path,
            kind=spec.kind,
            severity=spec.severity,
            description=f"corrected value: {spec.description}",
        )
    session.flush()
    ctx.record(
        session,
        actor=actor,
        action="batch.entry.corrected",
        entity=entity(batch, step.path),
        before={old.name: old.value, "entry": old.id},
        after={old.name: row.value, "entry": row.id, "deviation": dev.number if dev else None},
        reason=reason.strip(),
    )
    return row, dev


def _checked(
    ctx: Context, session: Session, batch: Batch, step: BatchStep, old: StepEntry, value: str
) -> tuple[phases.Entry, phases.DeviationSpec | None]:
    params = ctx.plan(session, batch).phase(step.path).params
    if isinstance(params, DataEntry) and old.name == "value":
        return phases.check_value(params, value)
    if not str(value).strip():
        raise ValidationError(f"{old.name}: the corrected value is empty")
    return phases.Entry(old.name, str(value).strip(), old.unit), None
