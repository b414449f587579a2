"""Review by exception: everything about a batch that did not go as prescribed, and QA's disposition of each.

An exception is anything a reviewer must look at (21 CFR 211.192, EU GMP Annex 11 §15):

* the batch did not end Complete (stopped, aborted, still held or running) or steps
  were left undone;
* every manual command on the batch or a phase (hold, restart, pause, resume, stop,
  abort) with who gave it and why;
* every interlock trip and process alarm on the batch's phases, or on its units while
  it ran; every equipment or material refusal recorded by ``ebr.execution.refusals``;
* every deviation (out of limit, time exceeded — a timed hold that ran late —,
  interlock trip, override, out-of-specification sample result, manual), correction,
  out-of-limit value, sample result without a specification and pending verification;
* a yield outside its limits and a material whose reconciliation is outside its limit
  (``ebr.execution.yields``; each also opened a deviation).

Each exception has a stable ``key``; QA records one disposition (a comment) per key
with :func:`disposition`, in one transaction with its audit event. Release is refused
while any exception has no disposition (see ``ebr.review.services``).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.chain import Entity
from audit.models import AuditEvent
from ebr.core.errors import StateError, ValidationError
from ebr.core.ids import new_id
from ebr.execution import deviations, refusals, yields
from ebr.execution.context import Context
from ebr.execution.engine import pending_verification
from ebr.execution.models import Batch, BatchStep, ReviewDisposition, SampleResult, StepEntry
from ebr.execution.rules import BatchStatus
from equipment.models import Alarm
from recipes.model import Recipe
from recipes.states import State

MANUAL_COMMANDS = ("hold", "restart", "pause", "resume", "stop", "abort")
COMMAND_ACTIONS = tuple(f"batch.command.{c}" for c in MANUAL_COMMANDS) + tuple(
    f"batch.step.{c}" for c in MANUAL_COMMANDS
)
DEVIATION_KINDS = {
    "interlock_trip": "interlock trip",
    "override": "override",
    "time_exceeded": "late timed hold",
    "out_of_spec": "out of specification",
    "yield": "yield deviation",
    "reconciliation": "reconciliation deviation",
}
# Statuses in which QA reviews a batch and dispositions its exceptions.
REVIEWABLE = (BatchStatus.COMPLETE.value, BatchStatus.REVIEWED.value, BatchStatus.ABORTED.value)


@dataclass(frozen=True)
class Disposition:
    """QA's comment on one exception."""

    comment: str
    by: str
    at: dt.datetime


@dataclass(frozen=True)
class ReviewItem:
    """One exception: a stable key, what kind, where, what happened and its context."""

    key: str
    kind: str
    step_path: str | None
    summary: str
    detail: str
    at: dt.datetime | None = None
    disposition: Disposition | None = None


def _end(session: Session, batch: Batch) -> list[ReviewItem]:
    found = []
    if batch.state != State.COMPLETE.value:
        summary = f"batch ended {batch.state}, not Complete" if batch.ended_at else f"batch is {batch.state}"
        detail = (
            "it can only be rejected, or released with a signed QA decision that names the batch and why"
            if batch.ended_at
            else "it has not ended; it cannot be released"
        )
        found.append(ReviewItem(f"end:{batch.state}", "batch not complete", None, summary, detail, batch.ended_at))
    undone = session.scalars(
        select(BatchStep)
        .where(BatchStep.batch_id == batch.id, BatchStep.level == "phase", BatchStep.state != State.COMPLETE.value)
        .order_by(BatchStep.path)
    ).all()
    if undone:
        steps = ", ".join(f"{s.path} {s.name} ({s.state})" for s in undone)
        found.append(ReviewItem("incomplete", "incomplete steps", None, f"{len(undone)} step(s) not completed", steps))
    return found


@dataclass(frozen=True)
class ManualCommand:
    """A hold, restart, pause, resume, stop or abort someone gave the batch or one of its phases."""

    seq: int
    command: str
    step_path: str | None
    by: str
    at: dt.datetime
    reason: str | None


def manual_commands(session: Session, batch: Batch) -> list[ManualCommand]:
    """Every manual command on ``batch`` and its phases, from its audit trail, oldest first."""
    prefix = AuditEvent.entity_id.startswith(batch.number + "/", autoescape=True)
    rows = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.entity_type.in_(("batch", "batch_step")))
        .where((AuditEvent.entity_id == batch.number) | prefix)
        .where(AuditEvent.action.in_(COMMAND_ACTIONS))
        .order_by(AuditEvent.seq)
    )
    return [
        ManualCommand(
            row.seq,
            row.action.rsplit(".", 1)[1],
            row.entity_id.split("/", 1)[1] if "/" in row.entity_id else None,
            row.actor,
            row.ts,
            row.reason,
        )
        for row in rows
    ]


def _commands(session: Session, batch: Batch) -> list[ReviewItem]:
    found = []
    for cmd in manual_commands(session, batch):
        target = f"phase {cmd.step_path}" if cmd.step_path else "batch"
        summary = f"{cmd.command} of the {target} by {cmd.by}"
        reason = f"reason: {cmd.reason}" if cmd.reason else "no reason given"
        found.append(ReviewItem(f"command:{cmd.seq}", "manual command", cmd.step_path, summary, reason, cmd.at))
    return found


def _refusals(session: Session, batch: Batch) -> list[ReviewItem]:
    rows = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == refusals.ACTION)
        .where(AuditEvent.entity_id.startswith(batch.number + "/", autoescape=True))
        .order_by(AuditEvent.seq)
    )
    found = []
    for row in rows:
        after = json.loads(row.canonical).get("after") or {}
        path = row.entity_id.split("/", 1)[1]
        kind = str(after.get("kind") or "refusal")
        detail = f"refused to {row.actor}"
        found.append(ReviewItem(f"refusal:{row.seq}", kind, path, str(after.get("message", "")), detail, row.ts))
    return found


def _alarms(session: Session, batch: Batch) -> list[ReviewItem]:
    prefix = f"{batch.id}:"
    found = []
    for alarm in session.scalars(
        select(Alarm).where(Alarm.phase_ref.startswith(prefix, autoescape=True)).order_by(Alarm.id)
    ):
        path = (alarm.phase_ref or "")[len(prefix) :]
        summary = f"{alarm.condition} on {alarm.unit}" + (f" ({alarm.tag} = {alarm.value})" if alarm.tag else "")
        found.append(ReviewItem(f"alarm:{alarm.id}", "interlock trip", path, summary, alarm.message, alarm.at))
    units = set(
        session.scalars(select(BatchStep.unit).where(BatchStep.batch_id == batch.id, BatchStep.unit.is_not(None)))
    )
    if batch.started_at is not None and units:
        query = select(Alarm).where(Alarm.phase_ref.is_(None), Alarm.unit.in_(units), Alarm.at >= batch.started_at)
        if batch.ended_at is not None:
            query = query.where(Alarm.at <= batch.ended_at)
        for alarm in session.scalars(query.order_by(Alarm.id)):
            summary = f"{alarm.condition} on {alarm.unit} while the batch ran"
            found.append(ReviewItem(f"alarm:{alarm.id}", "alarm", None, summary, alarm.message, alarm.at))
    return found


def _records(session: Session, batch: Batch) -> list[ReviewItem]:
    found = []
    for dev in deviations.for_batch(session, batch):
        kind = DEVIATION_KINDS.get(dev.kind, "deviation")
        summary = f"{dev.number} ({dev.severity}, {dev.status}): {dev.description}"
        found.append(
            ReviewItem(f"deviation:{dev.number}", kind, dev.step_path, summary, dev.comment or "no comment yet")
        )
    steps = {row.id: row for row in session.scalars(select(BatchStep).where(BatchStep.batch_id == batch.id))}
    entries = session.scalars(
        select(StepEntry)
        .where(StepEntry.batch_id == batch.id)
        .where((StepEntry.in_limits.is_(False)) | (StepEntry.corrects.is_not(None)))
        .order_by(StepEntry.recorded_at, StepEntry.id)
    )
    for entry in entries:
        step = steps.get(entry.step_id)
        where = step.path if step else None
        value = f"{step.name if step else ''}: {entry.name} = {entry.value} {entry.unit or ''}".strip()
        if entry.corrects is not None:
            found.append(
                ReviewItem(f"correction:{entry.id}", "correction", where, value, entry.correction_reason or "")
            )
        if entry.in_limits is False:
            detail = f"recorded by {entry.recorded_by}"
            found.append(
                ReviewItem(f"out-of-limits:{entry.id}", "out of limits", where, value, detail, entry.recorded_at)
            )
    unjudged = select(SampleResult).where(SampleResult.batch_id == batch.id, SampleResult.in_spec.is_(None))
    for result in session.scalars(unjudged.order_by(SampleResult.entered_at)):
        where = steps[result.step_id].path if result.step_id in steps else None
        summary = f"sample {result.sample_id}: {result.test} = {result.value} {result.unit or ''}".strip()
        detail = f"no specification in the recipe; entered by {result.entered_by}"
        found.append(ReviewItem(f"result:{result.id}", "result without specification", where, summary, detail))
    for row in sorted(steps.values(), key=lambda r: r.path):
        if row.level == "phase" and row.state == State.COMPLETE.value and pending_verification(row) is not None:
            detail = f"completed by {row.ended_by}; release is refused until it is verified"
            summary = f"{row.name}: waits for verification"
            key = f"verification:{row.path}"
            found.append(ReviewItem(key, "verification pending", row.path, summary, detail, row.ended_at))
    return found


def _yields(session: Session, batch: Batch) -> list[ReviewItem]:
    recipe = Recipe.from_dict(batch.control_recipe)
    found = [
        ReviewItem(f"yield:{y.scope}", "yield outside its limits", y.step, y.summary(), "21 CFR 211.103, 211.192")
        for y in yields.batch_yields(session, batch, recipe)
        if y.within is False
    ]
    for m in yields.reconciliation(session, batch, recipe):
        if m.within is False:
            detail = ", ".join(f"{c}: {b.difference} {m.unit}" for c, b in sorted(m.containers.items()))
            found.append(
                ReviewItem(f"reconciliation:{m.code}", "reconciliation outside its limits", None, m.summary(), detail)
            )
    return found


def exceptions(session: Session, batch: Batch) -> list[ReviewItem]:
    """Every exception of ``batch``, each with QA's disposition when it has one."""
    found = [
        *_end(session, batch),
        *_commands(session, batch),
        *_alarms(session, batch),
        *_refusals(session, batch),
        *_records(session, batch),
        *_yields(session, batch),
    ]
    done = {
        d.item_key: Disposition(d.comment, d.dispositioned_by, d.dispositioned_at)
        for d in session.scalars(select(ReviewDisposition).where(ReviewDisposition.batch_id == batch.id))
    }
    return [replace(item, disposition=done.get(item.key)) for item in found]


def undispositioned(session: Session, batch: Batch) -> list[str]:
    """One line per exception still without QA's disposition (empty when all have one).

    A pending verification is not listed: it blocks release by itself until the
    supervisor signs, and then it is no exception any more.
    """
    return [
        f"{item.kind} ({item.step_path or 'batch'}: {item.summary}) has no QA disposition yet; comment on it first"
        for item in exceptions(session, batch)
        if item.disposition is None and not item.key.startswith("verification:")
    ]


def disposition(
    session: Session, ctx: Context, *, actor: str, ref: str, key: str, comment: str, not_by: set[str]
) -> ReviewDisposition:
    """Record QA's comment on exception ``key`` of batch ``ref`` and its audit event.

    Raises ValidationError for an empty comment or an unknown key, StateError when the
    batch is not under review, the exception has a disposition already, or ``actor``
    took part in the batch (``not_by``).
    """
    text = (comment or "").strip()
    if not text:
        raise ValidationError("a disposition needs a comment: say why the exception is acceptable or what follows")
    batch = ctx.batch(session, ref, lock=True)
    if batch.status not in REVIEWABLE:
        raise StateError(
            f"batch {batch.number} is {batch.status}; exceptions are dispositioned when it is complete, "
            "reviewed or aborted"
        )
    if actor in not_by:
        raise StateError(f"{actor} took part in batch {batch.number}; another QA person dispositions its exceptions")
    items = {item.key: item for item in exceptions(session, batch)}
    item = items.get(key)
    if item is None:
        raise ValidationError(f"batch {batch.number} has no exception {key!r}; reload the review page")
    if item.disposition is not None:
        raise StateError(f"this exception was dispositioned by {item.disposition.by} already")
    row = ReviewDisposition(
        id=new_id(),
        batch_id=batch.id,
        item_key=key,
        kind=item.kind,
        comment=text,
        dispositioned_at=ctx.clock.now(),
        dispositioned_by=actor,
    )
    session.add(row)
    session.flush()
    ctx.record(
        session,
        actor=actor,
        action="batch.exception.dispositioned",
        entity=Entity("batch", batch.number),
        after={"exception": key, "kind": item.kind, "step": item.step_path, "summary": item.summary, "comment": text},
        reason=text,
    )
    return row
