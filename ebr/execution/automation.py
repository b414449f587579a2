"""Following automated phases and timed holds, and recovery after a restart.

The equipment runtime reports each dosing phase's state in its table; ``sync``
asks each running followed phase's behaviour (:meth:`ebr.execution.phases.PhaseBehaviour.follow`)
what it sees and applies the answer: complete → the actual quantity and trend are
recorded; held (an interlock trip) → the step goes to Held with a deviation; a
runtime that stopped answering (stale heartbeat) → Held with a deviation, since
nobody knows what the plant is doing; a hold past its maximum → one time deviation.
``recover`` runs when the engine starts and applies the same rule to every batch in
execution.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ebr.execution import deviations, phases
from ebr.execution.context import Context
from ebr.execution.engine import entity, write_result
from ebr.execution.models import Batch, BatchStep
from ebr.execution.rules import BatchStatus, DeviationKind, Severity
from ebr.execution.stepstate import change, update
from equipment import commands as runtime
from recipes.states import State

ACTOR = "system:execution"
RUNTIME_SILENCE = dt.timedelta(seconds=15)
"""How long the runtime may be silent before its running phases count as uncertain. Longer than the
runtime's own 3 s staleness: the runtime keeps the interlocks itself, and a busy host must not hold
a healthy dosing; a dead runtime is still noticed within seconds of this."""
UNCERTAIN = phases.UNCERTAIN


def _hold(session: Session, ctx: Context, batch: Batch, step: BatchStep, why: str, kind: DeviationKind) -> None:
    # held_by "equipment": the step restarts on its own (not with the batch), after the deviation.
    before = step.state
    step.state = State.HELD.value
    update(step, {"held_by": "equipment", "runtime": why})
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


def _dosed(session: Session, ctx: Context, batch: Batch, step: BatchStep, result: phases.Result) -> None:
    outcome = write_result(session, ctx, batch, step, ACTOR, result)
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


def _overrun(session: Session, ctx: Context, batch: Batch, step: BatchStep, description: str) -> None:
    dev = deviations.open_deviation(
        session,
        ctx,
        actor=ACTOR,
        batch=batch,
        step_path=step.path,
        kind=DeviationKind.TIME_EXCEEDED,
        severity=Severity.MINOR,
        description=description,
    )
    change(step, time_deviation=dev.number)
    session.flush()


def _alive(session: Session, ctx: Context) -> Callable[[], bool]:
    """Whether the runtime answers, asked at most once per sync and only when a phase needs it."""
    seen: list[bool] = []

    def alive() -> bool:
        if not seen:
            seen.append(runtime.runtime_status(session, now=ctx.clock.now(), stale_after=RUNTIME_SILENCE).alive)
        return seen[0]

    return alive


def sync(session: Session, ctx: Context, batch: Batch, *, recovering: bool = False) -> None:
    """Bring the running automated phases and holds of ``batch`` up to date (one transaction)."""
    if batch.status != BatchStatus.IN_EXECUTION.value:
        return
    query = select(BatchStep).where(
        BatchStep.batch_id == batch.id,
        BatchStep.state == State.RUNNING.value,
        BatchStep.phase_type.in_(phases.FOLLOWED),
    )
    steps = list(session.scalars(query))
    if not steps:
        return
    plan = ctx.plan(session, batch)
    # One heartbeat query per sync at most: every followed step judges the same runtime.
    alive = _alive(session, ctx)
    for step in steps:
        phase = plan.phase(step.path)
        turn = phases.Turn(session, ctx, batch, step, phase, ACTOR, {})
        followed = phases.behaviour(phase).follow(turn, alive=alive, recovering=recovering)
        if followed.result is not None:
            _dosed(session, ctx, batch, step, followed.result)
        elif followed.hold is not None:
            _hold(session, ctx, batch, step, followed.hold, DeviationKind.INTERLOCK_TRIP)
        elif followed.overrun is not None:
            _overrun(session, ctx, batch, step, followed.overrun)


def recover(session: Session, ctx: Context) -> list[str]:
    """At engine start: every batch in execution is synced; uncertain automated phases go to Held."""
    numbers = list(session.scalars(select(Batch.number).where(Batch.status == BatchStatus.IN_EXECUTION.value)))
    for number in numbers:
        # Locked: several web workers start at once and each runs recovery.
        sync(session, ctx, ctx.batch(session, number, lock=True), recovering=True)
    return numbers
