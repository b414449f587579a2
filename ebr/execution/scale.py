"""The weight of a scale as the equipment runtime last read it (Modbus scale SC-01 and the like).

The runtime polls the scale and keeps ``<scale>.weight`` and ``<scale>.stable`` in
its readings table; without a live, connected runtime, or with a reading of bad
quality, there is no weight anyone may record.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from ebr.clock import Clock
from ebr.errors import StateError
from ebr.execution.context import ScaleReading
from equipment import commands as runtime

TRUE_TEXT = frozenset({"1", "true", "True", "TRUE", "yes", "on"})


class RuntimeScale:
    """Reads a scale through the runtime's readings."""

    def __init__(self, *, clock: Clock) -> None:
        self.clock = clock

    def read(self, session: Session, scale: str) -> ScaleReading:
        """The scale's current weight; StateError when the runtime is down or the reading is not good.

        The runtime writes a reading when its value changes, so an old timestamp on a
        steady scale is normal; what makes it current is a live, connected runtime.
        """
        status = runtime.runtime_status(session, now=self.clock.now())
        if not status.connected:
            raise StateError(f"scale {scale} cannot be read: {status.detail}")
        rows = runtime.readings(session, [f"{scale}.weight", f"{scale}.stable"])
        weight = rows.get(f"{scale}.weight")
        if weight is None or weight.number is None:
            raise StateError(f"scale {scale} has no weight reading: is `ebr runtime` running and the scale connected?")
        if weight.quality.lower() not in ("good", "ok"):
            raise StateError(f"scale {scale} reading is {weight.quality}; check the scale connection and try again")
        stable = rows.get(f"{scale}.stable")
        is_stable = stable is not None and (
            stable.value in TRUE_TEXT or (stable.number is not None and stable.number != Decimal(0))
        )
        return ScaleReading(weight.number, weight.unit or "kg", is_stable, weight.updated_at)
