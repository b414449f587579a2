"""The automated phases: dosing (run by the equipment runtime) and the timed hold (run by the clock).

Starting a dosing sends ``start_dosing`` to the runtime; completing it records what the
runtime measured. While they run, :func:`follow_dosing` and :func:`hold_overrun` say what
the runtime's reports or the clock show; :mod:`ebr.execution.automation` applies that.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from ebr.core.errors import StateError
from ebr.execution import rules
from ebr.execution.models import BatchStep
from ebr.execution.rules import DeviationKind, Severity
from ebr.execution.stepstate import DosingState, TimedHoldState, load, state_of
from ebr.execution.turn import DeviationSpec, Entry, Result, Turn, current_entries, dec
from equipment import commands as runtime
from equipment.models import Command as RuntimeCommand
from recipes.phases import Dosing, PhaseType, TimedHold


def start_dosing(turn: Turn, params: Dosing) -> None:
    """The destination usable, then `start_dosing` for the runtime, its upper tolerance as a quantity."""
    ctx, session = turn.ctx, turn.session
    ctx.equipment.check_usable(session, params.destination, batch_ref=turn.batch.number)
    target = dec(params.target)
    assert target is not None
    _low, high = rules.tolerance_band(target, params.tolerance, params.tolerance_unit)
    runtime.start_dosing(
        session,
        actor=turn.actor,
        phase_ref=turn.phase_ref,
        source=params.source,
        destination=params.destination,
        target=target,
        tolerance=high - target,
        unit=params.unit,
        clock=ctx.clock,
    )


def _hold_started(turn: Turn) -> dt.datetime:
    started = state_of(turn.step, TimedHoldState).hold_started_at
    if started is None:
        raise StateError(f"hold {turn.step.path} has no start time; it was not started by the engine")
    return started


def end_hold(turn: Turn, params: TimedHold) -> Result:
    started = _hold_started(turn)
    minimum = rules.hold_seconds(Decimal(str(params.min_duration)), params.unit)
    maximum = (
        None if params.max_duration is None else rules.hold_seconds(Decimal(str(params.max_duration)), params.unit)
    )
    now = turn.ctx.clock.now()
    within = rules.check_hold_end(started, now, minimum, maximum)
    elapsed = Decimal(str((now - started).total_seconds())).quantize(Decimal("0.1"))
    result = Result(entries=[Entry("elapsed", rules.decimal_text(elapsed), "s", within, source="clock")])
    if not within and not state_of(turn.step, TimedHoldState).time_deviation:
        text = f"hold lasted {elapsed} s, beyond its maximum of {maximum} s"
        result.deviations.append(DeviationSpec(DeviationKind.TIME_EXCEEDED, Severity.MINOR, text))
    return result


def hold_status(params: TimedHold, data: Mapping[str, Any], now: dt.datetime) -> dict[str, Any] | None:
    """A running hold's countdown in whole seconds: elapsed, minimum, maximum and remaining to the minimum."""
    started = load(PhaseType.TIMED_HOLD.value, data, where="timed hold")
    assert isinstance(started, TimedHoldState)
    if started.hold_started_at is None:
        return None
    elapsed = int((now - started.hold_started_at).total_seconds())
    minimum = int(rules.hold_seconds(Decimal(str(params.min_duration)), params.unit))
    maximum = (
        None if params.max_duration is None else int(rules.hold_seconds(Decimal(str(params.max_duration)), params.unit))
    )
    return {"elapsed_s": elapsed, "min_s": minimum, "max_s": maximum, "remaining_s": max(0, minimum - elapsed)}


def hold_overrun(turn: Turn, params: TimedHold, now: dt.datetime) -> bool:
    """True when a running hold is past its maximum (the engine opens a deviation once)."""
    started = state_of(turn.step, TimedHoldState).hold_started_at
    if params.max_duration is None or started is None:
        return False
    maximum = rules.hold_seconds(Decimal(str(params.max_duration)), params.unit)
    return Decimal(str((now - started).total_seconds())) > maximum


def dosing_result(turn: Turn, params: Dosing) -> Result:
    """The dosed quantity from the runtime; refuses while the runtime has not finished."""
    snapshot = runtime.latest_state(turn.session, turn.phase_ref)
    if snapshot is None or snapshot.state is not runtime.PhaseStatus.COMPLETE or snapshot.actual is None:
        seen = "nothing" if snapshot is None else snapshot.state.value
        raise StateError(f"dosing {turn.step.path} has not finished (the runtime reports {seen}); wait for it")
    # Completion and follow can both get here (the operator's click and a sync): record once.
    if "actual" in turn.entries:
        return Result()
    target = dec(params.target)
    assert target is not None
    low, high = rules.tolerance_band(target, params.tolerance, params.tolerance_unit)
    actual = snapshot.actual
    within = low <= actual <= high
    points = len(runtime.trend(turn.session, f"{params.destination}.totalizer", phase_ref=turn.phase_ref))
    result = Result(
        entries=[Entry("actual", rules.decimal_text(actual), params.unit, within, source="equipment")],
        data={"runtime": "complete", "trend_points": points},
    )
    if not within:
        text = f"dosed {actual} {params.unit}, outside {low}–{high} {params.unit}"
        result.deviations.append(DeviationSpec(DeviationKind.OUT_OF_LIMIT, Severity.MAJOR, text))
    return result


UNCERTAIN = "equipment state uncertain"


@dataclass(frozen=True)
class Followed:
    """What following a running phase found; :mod:`ebr.execution.automation` applies it.

    ``result``: the phase finished in the plant, record its closing entries. ``hold``: put
    the step on Held with an interlock deviation, for this reason. ``overrun``: open the
    (one) time deviation of a hold past its maximum, with this description.
    """

    result: Result | None = None
    hold: str | None = None
    overrun: str | None = None


def _command_pending(session: Session, step: BatchStep, snapshot: runtime.PhaseSnapshot) -> bool:
    """True while our last command to the runtime has not been answered by a newer phase report."""
    command_id = state_of(step, DosingState).runtime_command
    if command_id is None:
        return False
    status, _result = runtime.command_result(session, command_id)
    if status in (runtime.CommandStatus.PENDING, runtime.CommandStatus.PICKED):
        return True
    command = session.get(RuntimeCommand, command_id)
    # The runtime marks the command done before its new phase report lands: a report older
    # than the command is not news (e.g. the Held that the restart just ended).
    return command is not None and status is runtime.CommandStatus.DONE and snapshot.updated_at < command.submitted_at


def follow_dosing(turn: Turn, params: Dosing, alive: Callable[[], bool], recovering: bool) -> Followed:
    snapshot = runtime.latest_state(turn.session, turn.phase_ref)
    if snapshot is not None and snapshot.state is runtime.PhaseStatus.COMPLETE:
        if state_of(turn.step, DosingState).runtime == "complete":
            return Followed()
        # The closing entries need the step's entries (a dosing is recorded once).
        whole = Turn(
            turn.session,
            turn.ctx,
            turn.batch,
            turn.step,
            turn.phase,
            turn.actor,
            current_entries(turn.session, turn.step),
        )
        return Followed(result=dosing_result(whole, params))
    if snapshot is None:
        # No report at all: after a restart, or with the runtime gone, nobody knows what runs.
        if recovering or not alive():
            return Followed(hold=f"{UNCERTAIN}: the runtime has no record of this dosing")
        return Followed()
    if _command_pending(turn.session, turn.step, snapshot):
        return Followed()
    if snapshot.state is runtime.PhaseStatus.HELD:
        return Followed(hold=f"interlock trip: {snapshot.reason or 'the runtime held the phase'}")
    if snapshot.state.final:
        return Followed(hold=f"the runtime ended the dosing as {snapshot.state.value}: {snapshot.reason}")
    if not alive():
        return Followed(hold=f"{UNCERTAIN}: the equipment runtime stopped answering")
    return Followed()
