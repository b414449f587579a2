"""Following automated phases and timed holds, and recovery after a restart.

The equipment runtime reports each dosing phase's state in its table; ``sync``
reads it and moves the batch step: complete → the actual quantity and trend are
recorded; held (an interlock trip) → the step goes to Held with a deviation; a
runtime that stopped answering (stale heartbeat) → Held with a deviation, since
nobody knows what the plant is doing. ``recover`` runs when the engine starts and
applies the same rule to every batch in execution.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from ebr.execution import deviations, phases
from ebr.execution.context import Context
from ebr.execution.engine import current_entries, entity, write_result
from ebr.execution.models import Batch, BatchStep
from ebr.execution.rules import BatchStatus, DeviationKind, Severity
from equipment import commands as runtime
from equipment.models import Command as RuntimeCommand
from recipes.phases import Dosing, TimedHold
from recipes.states import State

ACTOR = "system:execution"
RUNTIME_SILENCE = dt.timedelta(seconds=15)
"""How long the runtime may be silent before its running phases count as uncertain. Longer than the
runtime's own 3 s staleness: the runtime keeps the interlocks itself, and a busy host must not hold
a healthy dosing; a dead runtime is still noticed within seconds of this."""
UNCERTAIN = "equipment state uncertain"


def _hold(session: Session, ctx: Context, batch: Batch, step: BatchStep, why: str, kind: DeviationKind) -> None:
    before = step.state
    step.state = State.HELD.value
    step.data = {**step.data, "held_by": "equipment", "runtime": why}
    dev = deviations.open_deviation(
        session, ctx, actor=ACTOR, batch=batch, step_path=step.path, kind=kind, severity=Severity.MAJOR, description=why
    )
    session.flush()
    after = {"state": step.state, "reason": why, "deviation": dev.number}
    ctx.record(
        session,
        actor=ACTOR,
        action="batch.step.held",
        entity=entity(batch, step.path),
        before={"state": before},
        after=after,
    )


def _sync_dosing(
    session: Session, ctx: Context, batch: Batch, step: BatchStep, params: Dosing, *, recovering: bool
) -> None:
    ref = f"{batch.id}:{step.path}"
    snapshot = runtime.latest_state(session, ref)
    alive = runtime.runtime_status(session, now=ctx.clock.now(), stale_after=RUNTIME_SILENCE).alive
    if snapshot is not None and snapshot.state is runtime.PhaseStatus.COMPLETE:
        if step.data.get("runtime") != "complete":
            plan = ctx.plan(session, batch)
            turn = phases.Turn(session, ctx, batch, step, plan.phase(step.path), ACTOR, current_entries(session, step))
            outcome = write_result(session, ctx, batch, step, ACTOR, phases.dosing_result(turn, params))
            ctx.record(
                session,
                actor=ACTOR,
                action="batch.step.dosed",
                entity=entity(batch, step.path),
                after={
                    "actual": outcome.entries[0].value if outcome.entries else None,
                    "deviations": [d.number for d in outcome.deviations],
                },
            )
        return
    if snapshot is None:
        if recovering or not alive:
            _hold(
                session,
                ctx,
                batch,
                step,
                f"{UNCERTAIN}: the runtime has no record of this dosing",
                DeviationKind.INTERLOCK_TRIP,
            )
        return
    if _command_pending(session, step, snapshot):
        return
    if snapshot.state is runtime.PhaseStatus.HELD:
        _hold(
            session,
            ctx,
            batch,
            step,
            f"interlock trip: {snapshot.reason or 'the runtime held the phase'}",
            DeviationKind.INTERLOCK_TRIP,
        )
    elif snapshot.state.final:
        _hold(
            session,
            ctx,
            batch,
            step,
            f"the runtime ended the dosing as {snapshot.state.value}: {snapshot.reason}",
            DeviationKind.INTERLOCK_TRIP,
        )
    elif not alive:
        _hold(
            session,
            ctx,
            batch,
            step,
            f"{UNCERTAIN}: the equipment runtime stopped answering",
            DeviationKind.INTERLOCK_TRIP,
        )


def _command_pending(session: Session, step: BatchStep, snapshot: runtime.PhaseSnapshot) -> bool:
    """True while our last command to the runtime has not been answered by a newer phase report."""
    command_id = step.data.get("runtime_command")
    if command_id is None:
        return False
    status, _result = runtime.command_result(session, int(command_id))
    if status in (runtime.CommandStatus.PENDING, runtime.CommandStatus.PICKED):
        return True
    command = session.get(RuntimeCommand, int(command_id))
    # The runtime marks the command done before its new phase report lands: a report older
    # than the command is not news (e.g. the Held that the restart just ended).
    return command is not None and status is runtime.CommandStatus.DONE and snapshot.updated_at < command.submitted_at


def _sync_hold(session: Session, ctx: Context, batch: Batch, step: BatchStep, params: TimedHold) -> None:
    if step.data.get("time_deviation"):
        return
    plan = ctx.plan(session, batch)
    turn = phases.Turn(session, ctx, batch, step, plan.phase(step.path), ACTOR, {})
    if phases.hold_overrun(turn, params, ctx.clock.now()):
        dev = deviations.open_deviation(
            session,
            ctx,
            actor=ACTOR,
            batch=batch,
            step_path=step.path,
            kind=DeviationKind.TIME_EXCEEDED,
            severity=Severity.MINOR,
            description=f"hold {step.path} ran past its maximum duration",
        )
        step.data = {**step.data, "time_deviation": dev.number}
        session.flush()


def sync(session: Session, ctx: Context, batch: Batch, *, recovering: bool = False) -> None:
    """Bring the running automated phases and holds of ``batch`` up to date (one transaction)."""
    if batch.status != BatchStatus.IN_EXECUTION.value:
        return
    query = select(BatchStep).where(
        BatchStep.batch_id == batch.id,
        BatchStep.state == State.RUNNING.value,
        BatchStep.phase_type.in_(("dosing", "timed_hold")),
    )
    steps = list(session.scalars(query))
    if not steps:
        return
    plan = ctx.plan(session, batch)
    for step in steps:
        params = plan.phase(step.path).params
        if isinstance(params, Dosing):
            _sync_dosing(session, ctx, batch, step, params, recovering=recovering)
        elif isinstance(params, TimedHold):
            _sync_hold(session, ctx, batch, step, params)


def recover(session: Session, ctx: Context) -> list[str]:
    """At engine start: every batch in execution is synced; uncertain automated phases go to Held."""
    numbers = list(session.scalars(select(Batch.number).where(Batch.status == BatchStatus.IN_EXECUTION.value)))
    for number in numbers:
        # Locked: several web workers start at once and each runs recovery.
        sync(session, ctx, ctx.batch(session, number, lock=True), recovering=True)
    return numbers
