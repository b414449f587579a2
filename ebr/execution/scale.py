"""The weight of a scale as the equipment runtime last read it (Modbus scale SC-01 and the like).

The runtime polls the scale and keeps ``<scale>.weight`` and ``<scale>.stable`` in
its readings table; without a live, connected runtime, or with a reading of bad
quality, there is no weight anyone may record. A scale that stops answering makes the
runtime's heartbeat say so with the age (``no answer from scale (3.2 s)`` after the
endpoint's ``max_data_age_ms``, ``scale: DOWN (no answer for 4.1 s)`` once its poll timed
out), and the weighing is refused with that text.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from ebr.core.clock import Clock
from ebr.core.errors import StateError
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
            # The detail names the endpoint and how long it has not answered ("no answer from
            # scale (3.2 s)", "scale: DOWN (no answer for 4.1 s)"): that is the weight's age.
            raise StateError(
                f"scale {scale} cannot be read, its weight is not current: {status.detail}; "
                "check the scale and its connection, then weigh again"
            )
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
