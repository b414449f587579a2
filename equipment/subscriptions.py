"""How the runtime subscribes: interlock tags fast and alone, everything else at a display rate."""

from __future__ import annotations

from collections.abc import Callable

from equipment.config import PlantConfig
from equipment.drivers.base import TagValue
from equipment.drivers.plantio import PlantIO

DISPLAY_INTERVAL_MS = 200.0


def interlock_tags(config: PlantConfig) -> list[str]:
    """Tags an interlock watches: they get their own subscription at the endpoint's fastest interval."""
    tags: list[str] = []
    for cfg in config.dosing.values():
        watched = (
            cfg.level,
            cfg.totalizer,
            cfg.flow,
            cfg.inlet_valve,
            cfg.inlet_valve_feedback,
            cfg.pump,
            cfg.pump_feedback,
        )
        tags += [t for t in watched if t]
    for plc in config.plc_phases.values():
        tags += [t for t in (plc.command, plc.state, plc.refusal, plc.watchdog_read) if t]
    return list(dict.fromkeys(tags))


async def subscribe_plant(io: PlantIO, config: PlantConfig, callback: Callable[[TagValue], None]) -> None:
    """Subscribe every tag: interlock tags fast and alone, the rest at a display rate.

    Why: with one big subscription, changes of unrelated tags use up the publish
    requests the client has outstanding, and a high-high level waits for the next one.
    """
    fast = interlock_tags(config)
    await io.subscribe(fast, callback)
    rest = [t for t in config.tags if t not in fast]
    if rest:
        await io.subscribe(rest, callback, interval_ms=DISPLAY_INTERVAL_MS)
