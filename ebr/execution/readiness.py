"""Why a running step cannot be completed yet, said before anyone types a password.

The same checks the engine makes on completion (equipment usable, a timed hold's
minimum reached, QC results in, deviations acknowledged), read without changing
anything, so the step panel shows them above its "Complete and sign" button.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ebr.execution import deviations, phases, samples
from ebr.execution.context import Context
from ebr.execution.models import Batch, BatchStep
from recipes.model import Phase
from recipes.states import State


def completion_blockers(session: Session, ctx: Context, batch: Batch, step: BatchStep, phase: Phase) -> list[str]:
    """One line per check that would refuse completing ``step`` now (empty: nothing known blocks it)."""
    if step.state != State.RUNNING.value:
        return []
    # The phase type's own checks (equipment usable, a hold's minimum), then the common ones.
    turn = phases.Turn(session, ctx, batch, step, phase, actor="", entries={})
    found = phases.behaviour(phase).blockers(turn)
    missing = samples.missing_results(session, ctx.plan(session, batch), step)
    if missing:
        found.append(f"QC's result of {', '.join(missing)} is not in yet")
    for dev in deviations.blocking(session, ctx, batch, step.path):
        found.append(f"deviation {dev.number} needs a supervisor's comment and 'verified' signature")
    return found
