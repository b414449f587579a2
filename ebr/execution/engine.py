"""The execution engine: start, record and complete steps along the step graph.

Every call is one unit of work in the caller's transaction: the batch row is
locked (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite already serializes
writers), the step's optimistic version is checked, the phase logic runs, rows
change and one audit event describes the transition. If anything fails, nothing
is kept. Completing a phase advances the graph one level at a time (operation,
unit procedure, procedure), so the cost of a step does not grow with the batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from audit.chain import Entity
from ebr.core.canonical import jsonable
from ebr.core.errors import StateError, ValidationError
from ebr.core.ids import new_id
from ebr.execution import deviations, graph, phases
from ebr.execution.context import Context, check_version, find_meaning
from ebr.execution.models import Batch, BatchStep, Deviation, StepEntry
from ebr.execution.plan import Plan
from ebr.execution.progress import activate_children, advance
from ebr.execution.rules import BatchStatus
from ebr.execution.stepstate import Verification, change, state_of, update
from ebr.materials.services import Credentials
from recipes.model import Phase
from recipes.states import Command, State, apply, complete

# The one signature that may be given after completion (a witness must be present: co-signed).
LATER = "verified"
# The step state's field of a completed step's verification: pending (with the entries it signs) or verified.
VERIFICATION = "verification"
CLOSED = (BatchStatus.RELEASED.value, BatchStatus.REJECTED.value, BatchStatus.ABORTED.value)


@dataclass
class StepOutcome:
    """What a step call did: the step, entries recorded, deviations opened, whether it completed."""

    step: BatchStep
    entries: list[StepEntry] = field(default_factory=list)
    deviations: list[Deviation] = field(default_factory=list)
    completed: bool = False
    blocked_by: list[str] = field(default_factory=list)
    advanced: list[str] = field(default_factory=list)


def entity(batch: Batch, path: str) -> Entity:
    """The audit entity of a step: ``batch_step`` ``<batch number>/<path>``."""
    return Entity("batch_step", f"{batch.number}/{path}")


# The step's entries of its current run, by name (defined with the phases, which read them too).
current_entries = phases.current_entries


def _executing(batch: Batch) -> None:
    if batch.status != BatchStatus.IN_EXECUTION.value or batch.state != State.RUNNING.value:
        raise StateError(
            f"batch {batch.number} is {batch.status} / {batch.state}; steps run only while the batch is "
            "in execution and Running (start or restart the batch first)"
        )


def start_batch(session: Session, ctx: Context, *, actor: str, ref: str, version: int | None = None) -> Batch:
    """ready → in_execution: Start the procedure and make its first steps ready."""
    batch = ctx.batch(session, ref, lock=True)
    check_version(batch, version, f"batch {batch.number}")
    if batch.status != BatchStatus.READY.value:
        raise StateError(f"batch {batch.number} is {batch.status}; release it to the floor before starting it")
    batch.state = apply(State(batch.state), Command.START).value
    batch.status = BatchStatus.IN_EXECUTION.value
    batch.started_at = ctx.clock.now()
    plan = ctx.plan(session, batch)
    changed = activate_children(session, ctx, batch, plan, "", actor)
    after = {"status": batch.status, "state": batch.state, "ready": changed}
    before = {"status": BatchStatus.READY.value, "state": State.IDLE.value}
    ctx.record(
        session, actor=actor, action="batch.started", entity=Entity("batch", batch.number), before=before, after=after
    )
    return batch


def _open(
    session: Session, ctx: Context, ref: str, path: str, version: int | None
) -> tuple[Batch, BatchStep, Plan, Phase]:
    batch = ctx.batch(session, ref, lock=True)
    step = ctx.step(session, batch, path)
    check_version(step, version, f"step {path} of batch {batch.number}")
    if step.level != "phase":
        raise ValidationError(f"{path} is a {step.level}; only phases are started and completed by people")
    plan = ctx.plan(session, batch)
    return batch, step, plan, plan.phase(path)


def _turn(session: Session, ctx: Context, batch: Batch, step: BatchStep, phase: Phase, actor: str) -> phases.Turn:
    return phases.Turn(session, ctx, batch, step, phase, actor, current_entries(session, step))


def start_step(
    session: Session, ctx: Context, *, actor: str, ref: str, path: str, version: int | None = None
) -> StepOutcome:
    """Idle → Running, if the graph has made the step ready (forced sequencing)."""
    batch, step, plan, phase = _open(session, ctx, ref, path, version)
    _executing(batch)
    if not step.ready:
        raise StateError(f"step {path} is out of sequence: {_waiting(session, ctx, batch, plan, path)}")
    # The transition is checked before the phase acts: a refused Start sends nothing to the plant.
    state = apply(State(step.state), Command.START)
    result = phases.on_start(_turn(session, ctx, batch, step, phase, actor))
    step.state = state.value
    step.started_at, step.started_by = ctx.clock.now(), actor
    update(step, result.data)
    session.flush()
    ctx.record(
        session,
        actor=actor,
        action="batch.step.started",
        entity=entity(batch, path),
        before={"state": State.IDLE.value},
        after={"state": step.state, **jsonable(result.data)},
    )
    return StepOutcome(step)


def _waiting(session: Session, ctx: Context, batch: Batch, plan: Plan, path: str) -> str:
    """Why ``path`` is not ready: the highest enclosing element that is not, and what it waits for."""
    parts = path.split(".")
    for depth in range(1, len(parts) + 1):
        element, parent = ".".join(parts[:depth]), ".".join(parts[: depth - 1])
        rows = ctx.children(session, batch, parent)
        if any(r.path == element and r.ready for r in rows):
            continue
        node = plan.node(parent)
        done = {r.path for r in rows if r.state == State.COMPLETE.value}
        missing = graph.waiting_for(node.children, node.transitions, element, done)
        if missing:
            return f"it waits for {', '.join(missing)} to complete"
        return f"{element} has not been reached in the recipe's sequence"
    return "it is not ready"


def record(
    session: Session,
    ctx: Context,
    *,
    actor: str,
    ref: str,
    path: str,
    values: Mapping[str, Any],
    version: int | None = None,
    confirmed: bool = True,
) -> StepOutcome:
    """Record the operator's values on a running step (may open deviations).

    ``confirmed`` false: a typed number outside its limits is refused with
    ``phases.OutOfLimitsUnconfirmed`` (nothing stored) instead of recorded with a deviation.
    """
    batch, step, _plan, phase = _open(session, ctx, ref, path, version)
    return _record(session, ctx, batch, step, phase, actor, values, confirmed=confirmed)


def _record(
    session: Session,
    ctx: Context,
    batch: Batch,
    step: BatchStep,
    phase: Phase,
    actor: str,
    values: Mapping[str, Any],
    *,
    confirmed: bool = True,
) -> StepOutcome:
    _executing(batch)
    if step.state != State.RUNNING.value:
        raise StateError(f"step {step.path} is {step.state}; values are recorded only while it is Running")
    result = phases.on_record(_turn(session, ctx, batch, step, phase, actor), values, confirmed=confirmed)
    outcome = write_result(session, ctx, batch, step, actor, result)
    ctx.record(
        session, actor=actor, action="batch.step.recorded", entity=entity(batch, step.path), after=_described(outcome)
    )
    return outcome


def write_result(
    session: Session, ctx: Context, batch: Batch, step: BatchStep, actor: str, result: phases.Result
) -> StepOutcome:
    now = ctx.clock.now()
    outcome = StepOutcome(step)
    for e in result.entries:
        row = StepEntry(
            id=new_id(),
            batch_id=batch.id,
            step_id=step.id,
            name=e.name,
            value=e.value,
            unit=e.unit,
            in_limits=e.in_limits,
            source=e.source,
            recorded_at=now,
            recorded_by=actor,
        )
        session.add(row)
        outcome.entries.append(row)
    for spec in result.deviations:
        outcome.deviations.append(
            deviations.open_deviation(
                session,
                ctx,
                actor=actor,
                batch=batch,
                step_path=step.path,
                kind=spec.kind,
                severity=spec.severity,
                description=spec.description,
            )
        )
    # update() writes a new dict (not an in-place change) so the ORM sees it and bumps the step's version.
    update(step, {**result.data, "recorded": (state_of(step).recorded or 0) + len(result.entries)})
    session.flush()
    return outcome


def _described(outcome: StepOutcome) -> dict[str, Any]:
    return {
        "entries": {
            e.name: {"value": e.value, "unit": e.unit, "in_limits": e.in_limits, "source": e.source}
            for e in outcome.entries
        },
        "deviations": [d.number for d in outcome.deviations],
        "state": outcome.step.state,
    }


def complete_step(
    session: Session,
    ctx: Context,
    *,
    actor: str,
    ref: str,
    path: str,
    version: int | None = None,
    values: Mapping[str, Any] | None = None,
    signatures: Sequence[Credentials] = (),
    confirmed: bool = True,
) -> StepOutcome:
    """Running → Complete with the phase's signatures; advances the graph.

    When ``values`` open a deviation the values and the deviation are kept and the
    step stays Running (``blocked_by`` names the deviation). ``confirmed`` as in :func:`record`.
    """
    batch, step, plan, phase = _open(session, ctx, ref, path, version)
    if values:
        # Values sent with the completion are recorded first, as their own audited event: a
        # deviation they open is kept (the operator's entry is GMP data) even though the step
        # cannot complete until a supervisor has handled it.
        recorded = _record(session, ctx, batch, step, phase, actor, values, confirmed=confirmed)
        if recorded.deviations:
            recorded.blocked_by = [d.number for d in recorded.deviations]
            return recorded
    _executing(batch)
    if step.state != State.RUNNING.value:
        raise StateError(f"step {path} is {step.state}; only a Running step can be completed")
    blockers = deviations.blocking(session, ctx, batch, path)
    if blockers:
        names = ", ".join(d.number for d in blockers)
        raise StateError(
            f"step {path} cannot complete: deviation {names} needs a comment and "
            "a supervisor's verified signature first"
        )
    result = phases.on_complete(_turn(session, ctx, batch, step, phase, actor))
    outcome = write_result(session, ctx, batch, step, actor, result)
    # A closing entry out of limits (a dosed quantity, a calculation) blocks like a typed one.
    if outcome.deviations:
        outcome.blocked_by = [d.number for d in outcome.deviations]
        ctx.record(
            session, actor=actor, action="batch.step.recorded", entity=entity(batch, path), after=_described(outcome)
        )
        return outcome
    signed, pending = _sign_step(session, ctx, batch, step, phase, actor, signatures)
    change(step, verification=None if pending is None else Verification("pending", pending))
    step.state = complete(State(step.state)).value
    step.ended_at, step.ended_by = ctx.clock.now(), actor
    outcome.completed = True
    outcome.advanced = advance(session, ctx, batch, plan, path, actor)
    session.flush()
    after = _described(outcome) | {"signatures": signed, "advanced": outcome.advanced}
    if pending is not None:
        after["verification"] = "pending"
    ctx.record(
        session,
        actor=actor,
        action="batch.step.completed",
        entity=entity(batch, path),
        before={"state": State.RUNNING.value},
        after=after,
    )
    return outcome


def signed_content(batch: Batch, step: BatchStep, entries: Mapping[str, str]) -> dict[str, Any]:
    """Exactly what a step's signatures sign (without the meaning): batch, step, name, type, entries."""
    return {
        "batch": batch.number,
        "step": step.path,
        "name": step.name,
        "type": step.phase_type,
        "entries": dict(entries),
    }


def _sign_step(
    session: Session,
    ctx: Context,
    batch: Batch,
    step: BatchStep,
    phase: Phase,
    actor: str,
    given: Sequence[Credentials],
) -> tuple[dict[str, str], dict[str, str] | None]:
    """Sign the step with each required meaning; a ``verified`` not given is left for later.

    Returns the signers by meaning and, when the verification is left pending, the
    entries it will sign (those the step completes with).
    """
    meanings = required_meanings(phase)
    entries = {e.name: e.value for e in current_entries(session, step).values()}
    content = signed_content(batch, step, entries)
    signed: dict[str, str] = {}
    pending: dict[str, str] | None = None
    for meaning in meanings:
        if meaning == LATER and not any(c.meaning == LATER for c in given):
            # The verifier may not be at the line now: the step completes and the entries it
            # completed with are kept, so the later signature signs exactly those.
            pending = entries
            continue
        cred = find_meaning(given, meaning, f"step {step.path}")
        if meaning == "performed" and cred.user_id.strip().lower() != actor:
            raise ValidationError(
                f"the 'performed' signature on {step.path} must be given by {actor}, who completes it"
            )
        # Part 11 (DESIGN.md): the same person cannot perform and verify a step; each signer differs.
        not_by = {user: f"signed this step as {m}" for m, user in signed.items()}
        if meaning != "performed":
            not_by.setdefault(actor, "performed this step")
        row = ctx.sign(
            session,
            batch=batch,
            subject_type="batch_step",
            subject_id=step.id,
            content=content | {"meaning": meaning},
            credentials=cred,
            not_by=not_by,
            label=f"{batch.number}/{step.path}",
        )
        signed[meaning] = row.signer
    return signed, pending


def pending_verification(step: BatchStep) -> dict[str, str] | None:
    """The entries a completed step waits to have verified, or None when nothing is pending."""
    mark = state_of(step).verification
    if mark is not None and mark.status == "pending":
        return dict(mark.entries)
    return None


def verify_step(
    session: Session,
    ctx: Context,
    *,
    actor: str,
    ref: str,
    path: str,
    signature: Credentials,
    version: int | None = None,
) -> BatchStep:
    """Sign the pending ``verified`` signature of a completed step (a supervisor, later, not the performer).

    The signature signs the content the step was completed with; the pending mark
    is cleared and ``batch.step.verified`` is audited, all in the caller's transaction.
    """
    batch, step, _plan, phase = _open(session, ctx, ref, path, version)
    what = f"step {path} of batch {batch.number}"
    if batch.status in CLOSED:
        raise StateError(f"batch {batch.number} is {batch.status}; its steps can no longer be verified")
    if signature.meaning != LATER:
        raise ValidationError(f"a step is verified with the meaning 'verified', not {signature.meaning!r}")
    if step.state != State.COMPLETE.value:
        raise StateError(
            f"{what} is {step.state}; only a completed step is verified later "
            "(while it runs, the verifier signs in the completion dialog)"
        )
    entries = pending_verification(step)
    if entries is None:
        if LATER not in required_meanings(phase):
            raise ValidationError(f"{what} does not need a 'verified' signature; nothing to verify")
        done = [s.signer for s in ctx.signatures_of(session, "batch_step", step.id) if s.meaning == LATER]
        who = f" by {done[-1]}" if done else ""
        raise StateError(f"{what} is already verified{who}; nothing waits for verification")
    if signature.user_id.strip().lower() != actor:
        raise ValidationError(f"the 'verified' signature on {path} must be given by {actor}, who is signed in")
    not_by = {p: "performed this step" for p in (step.ended_by, step.started_by) if p}
    for row in ctx.signatures_of(session, "batch_step", step.id):
        if step.started_at is None or row.signed_at >= step.started_at:
            not_by.setdefault(row.signer, f"signed this step as {row.meaning}")
    row = ctx.sign(
        session,
        batch=batch,
        subject_type="batch_step",
        subject_id=step.id,
        content=signed_content(batch, step, entries) | {"meaning": LATER},
        credentials=signature,
        not_by=not_by,
        label=f"{batch.number}/{step.path}",
    )
    change(step, verification=Verification("verified", entries, row.signer))
    session.flush()
    ctx.record(
        session,
        actor=actor,
        action="batch.step.verified",
        entity=entity(batch, path),
        before={"verification": "pending"},
        after={"verification": "verified", "signed_by": row.signer, "entries": entries},
    )
    return step


def required_meanings(phase: Phase) -> tuple[str, ...]:
    """The signatures completing ``phase`` needs (a sign-off lists its own)."""
    return phases.behaviour(phase).meanings(phase)
