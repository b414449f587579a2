"""The weighing screen: net weight in large digits, a bar with the tolerance window, stability,
and which containers may be scanned.

Read-only views over the runtime's scale readings and the step's entries; the weight
that is recorded is still taken by the engine from a stable reading.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ebr.execution import rules
from ebr.execution.engine import current_entries
from ebr.execution.models import Batch
from ebr.execution.rules import LotStatus
from ebr.execution.service import Execution
from ebr.materials.models import Container, Lot
from equipment.models import Reading
from recipes import units
from recipes.phases import WeighDispense

BAR_WIDTH = 600


@dataclass(frozen=True)
class ContainerChoice:
    barcode: str
    lot: str
    quantity: Decimal
    unit: str
    expires_on: dt.date


@dataclass(frozen=True)
class LiveWeighing:
    """What the scale shows for this step: net (gross until tared), window, stability."""

    weight: Decimal | None
    tared: bool
    stable: bool
    unit: str
    target: Decimal | None
    low: Decimal | None
    high: Decimal | None

    def x(self, value: Decimal) -> int:
        top = (self.high or self.target or Decimal(1)) * Decimal("1.1") or Decimal(1)
        return max(0, min(BAR_WIDTH, int(value / top * BAR_WIDTH)))

    @property
    def verdict(self) -> str:
        if self.weight is None or self.low is None or self.high is None or not self.tared:
            return ""
        if self.weight < self.low:
            return f"add {self.low - self.weight} {self.unit} to reach the window"
        if self.weight > self.high:
            return f"{self.weight - self.high} {self.unit} too much: take some out"
        return "within tolerance"


def containers_to_scan(session: Session, material: str, today: dt.date) -> list[ContainerChoice]:
    """Containers of released, unexpired lots of ``material`` that still hold something, oldest expiry first."""
    rows = session.execute(
        select(Container, Lot)
        .join(Lot, Container.lot_id == Lot.id)
        .where(Lot.material_code == material, Lot.status == LotStatus.RELEASED.value, Lot.expires_on >= today)
        .where(Container.quantity > 0)
        .order_by(Lot.expires_on, Container.barcode)
    )
    return [ContainerChoice(c.barcode, lot.lot_number, c.quantity, c.unit, lot.expires_on) for c, lot in rows]


def live_weighing(session: Session, ex: Execution, step_ref: str) -> LiveWeighing | None:
    """The live weighing of ``step_ref`` (``<batch id>:<path>``), or None when it is not a weighing step."""
    batch_id, _, path = step_ref.partition(":")
    batch = session.get(Batch, batch_id)
    if batch is None or not path:
        return None
    params = ex.ctx.plan(session, batch).phase(path).params
    if not isinstance(params, WeighDispense) or params.scale is None:
        return None
    entries = current_entries(session, ex.ctx.step(session, batch, path))
    weight_row = session.get(Reading, f"{params.scale}.weight")
    stable_row = session.get(Reading, f"{params.scale}.stable")
    weight = None
    if weight_row is not None and weight_row.number is not None:
        try:
            weight = units.convert(weight_row.number, weight_row.unit or params.unit, params.unit)
        except ValueError:
            weight = weight_row.number
    tare = entries.get("tare")
    if weight is not None and tare is not None:
        weight -= Decimal(tare.value)
    target = Decimal(entries["target"].value) if "target" in entries else None
    low = high = None
    if target is not None:
        low, high = (b.quantize(target) for b in rules.tolerance_band(target, params.tolerance, params.tolerance_unit))
    stable = stable_row is not None and stable_row.value.strip().lower() in ("true", "1", "yes")
    return LiveWeighing(weight, tare is not None, stable, params.unit, target, low, high)
