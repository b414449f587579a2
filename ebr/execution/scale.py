"""The weight of a scale as the equipment runtime last read it (Modbus scale SC-01 and the like).

The runtime polls the scale and keeps ``<scale>.weight`` and ``<scale>.stable`` in
its readings table; a reading older than ``max_age`` or of bad quality is not a
weight anyone may record.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy.orm import Session

from ebr.clock import Clock
from ebr.errors import StateError
from ebr.execution.context import ScaleReading
from equipment import commands as runtime

TRUE_TEXT = frozenset({"1", "true", "True", "TRUE", "yes", "on"})


class RuntimeScale:
    """Reads a scale through the runtime's readings."""

    def __init__(self, *, clock: Clock, max_age: dt.timedelta = dt.timedelta(seconds=5)) -> None:
        self.clock = clock
        self.max_age = max_age

    def read(self, session: Session, scale: str) -> ScaleReading:
        """The scale's current weight; StateError when there is no fresh, good reading."""
        rows = runtime.readings(session, [f"{scale}.weight", f"{scale}.stable"])
        weight = rows.get(f"{scale}.weight")
        if weight is None or weight.number is None:
            raise StateError(f"scale {scale} has no weight reading: is `ebr runtime` running and the scale connected?")
        age = self.clock.now() - weight.updated_at
        if age > self.max_age or weight.quality.lower() not in ("good", "ok"):
            raise StateError(
                f"scale {scale} reading is {weight.quality} and {age.total_seconds():.0f} s old; "
                "check the scale connection and try again"
            )
        stable = rows.get(f"{scale}.stable")
        is_stable = stable is not None and (
            stable.value in TRUE_TEXT or (stable.number is not None and stable.number != Decimal(0))
        )
        return ScaleReading(weight.number, weight.unit or "kg", is_stable, weight.updated_at)
