"""A timed hold's setpoints in words, each beside the live actual value it controls.

The recipe names the setpoint tag (``R-101.jacket_setpoint``). The actual value shown
beside it is the unit's reading in the same engineering unit that is not itself a
setpoint (``R-101.temperature`` for a °C setpoint of R-101).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ebr.execution.models import Batch
from ebr.execution.service import Execution
from equipment.models import Reading
from recipes.phases import TimedHold


@dataclass(frozen=True)
class SetpointView:
    label: str
    setpoint: Decimal
    unit: str
    actual_label: str | None
    actual: Decimal | None


def _words(tag: str) -> tuple[str, str]:
    unit, _, name = tag.partition(".")
    return unit, name.replace("_", " ")


def _is_setpoint(tag: str) -> bool:
    name = tag.partition(".")[2].lower()
    return "setpoint" in name or "_sp_" in f"_{name}_" or name.endswith("_sp")


def setpoints(session: Session, ex: Execution, step_ref: str) -> list[SetpointView]:
    """The setpoints of the timed hold ``step_ref`` (``<batch id>:<path>``) with their live actual values."""
    batch_id, _, path = step_ref.partition(":")
    batch = session.get(Batch, batch_id)
    if batch is None or not path:
        return []
    params = ex.ctx.plan(session, batch).phase(path).params
    if not isinstance(params, TimedHold):
        return []
    shown = []
    for sp in params.setpoints:
        unit, name = _words(sp.tag)
        candidates = session.scalars(
            select(Reading).where(Reading.tag.like(f"{unit}.%"), Reading.unit == sp.unit).order_by(Reading.tag)
        )
        actual = next((r for r in candidates if not _is_setpoint(r.tag) and r.number is not None), None)
        shown.append(
            SetpointView(
                label=f"{name.capitalize()} of {unit}",
                setpoint=Decimal(str(sp.value)),
                unit=sp.unit,
                actual_label=_words(actual.tag)[1] if actual else None,
                actual=actual.number if actual else None,
            )
        )
    return shown
