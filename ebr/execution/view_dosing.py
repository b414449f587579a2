"""The live picture of a dosing phase: amount dosed so far, the level, and a bar towards the target.

The runtime reports a phase's actual quantity when its state changes; between reports
the destination's totalizer keeps counting. The live amount is the totalizer now
minus its value when the phase began (its first trend bucket's minimum), never less
than the last reported actual. The recorded quantity is still the runtime's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ebr.execution import rules
from ebr.execution.models import Batch
from ebr.execution.service import Execution
from equipment.models import PhaseState, Reading, TrendPoint
from recipes.phases import Dosing

BAR_WIDTH = 600


@dataclass(frozen=True)
class LiveDosing:
    """What the operator sees while a dosing runs."""

    amount: Decimal | None
    target: Decimal
    low: Decimal
    high: Decimal
    unit: str
    level: Decimal | None
    level_unit: str

    def x(self, value: Decimal) -> int:
        """Position of ``value`` on the bar (the bar ends a little past the high limit)."""
        scale = self.high * Decimal("1.05") or Decimal(1)
        return max(0, min(BAR_WIDTH, int(value / scale * BAR_WIDTH)))

    @property
    def within(self) -> bool:
        return self.amount is not None and self.low <= self.amount <= self.high


def live_dosing(session: Session, ex: Execution, phase_ref: str, state: PhaseState | None) -> LiveDosing | None:
    """The live dosing of ``phase_ref`` (``<batch id>:<path>``), or None when it is not a dosing phase."""
    batch_id, _, path = phase_ref.partition(":")
    batch = session.get(Batch, batch_id)
    if batch is None or not path:
        return None
    params = ex.ctx.plan(session, batch).phase(path).params
    if not isinstance(params, Dosing):
        return None
    target = Decimal(str(params.target))
    low, high = rules.tolerance_band(target, params.tolerance, params.tolerance_unit)
    unit = params.destination
    total = session.get(Reading, f"{unit}.totalizer")
    first = session.scalars(
        select(TrendPoint.minimum)
        .where(TrendPoint.phase_ref == phase_ref, TrendPoint.tag == f"{unit}.totalizer")
        .order_by(TrendPoint.at)
        .limit(1)
    ).first()
    reported = state.actual if state is not None else None
    amount = reported
    running = state is not None and state.state == "running"
    if running and total is not None and total.number is not None and first is not None:
        counted = total.number - first
        amount = counted if reported is None else max(counted, reported)
    level = session.get(Reading, f"{unit}.level")
    return LiveDosing(
        amount=amount,
        target=target,
        low=low,
        high=high,
        unit=params.unit,
        level=level.number if level is not None else None,
        level_unit=level.unit if level is not None else "",
    )
