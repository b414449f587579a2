"""Why a running step cannot be completed yet, said before anyone types a password.

The same checks the engine makes on completion (equipment usable, a timed hold's
minimum reached, QC results in, deviations acknowledged), read without changing
anything, so the step panel shows them above its "Complete and sign" button.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from ebr.execution import deviations, rules, samples
from ebr.execution.context import Context
from ebr.execution.models import Batch, BatchStep
from ebr.execution.stepstate import TimedHoldState, state_of
from equipment.errors import EquipmentNotUsable
from recipes.model import Phase
from recipes.phases import EquipmentCheck, TimedHold
from recipes.states import State


def completion_blockers(session: Session, ctx: Context, batch: Batch, step: BatchStep, phase: Phase) -> list[str]:
    """One line per check that would refuse completing ``step`` now (empty: nothing known blocks it)."""
    if step.state != State.RUNNING.value:
        return []
    found = []
    params = phase.params
    if isinstance(params, EquipmentCheck):
        try:
            ctx.equipment.check_usable(session, params.equipment, batch_ref=batch.number)
        except EquipmentNotUsable as exc:
            found.append(exc.message)
    started = state_of(step, TimedHoldState).hold_started_at if isinstance(params, TimedHold) else None
    if isinstance(params, TimedHold) and started is not None:
        minimum = rules.hold_seconds(Decimal(str(params.min_duration)), params.unit)
        elapsed = Decimal(str((ctx.clock.now() - started).total_seconds()))
        if elapsed < minimum:
            left = (minimum - elapsed).quantize(Decimal(1))
            found.append(f"the hold has not reached its minimum of {params.min_duration} {params.unit}: {left} s left")
    missing = samples.missing_results(session, ctx.plan(session, batch), step)
    if missing:
        found.append(f"QC's result of {', '.join(missing)} is not in yet")
    for dev in deviations.blocking(session, ctx, batch, step.path):
        found.append(f"deviation {dev.number} needs a supervisor's comment and 'verified' signature")
    return found
