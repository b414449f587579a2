"""Who owns which output, and the watch on units that no phase of ours is running.

:func:`owned_outputs` says which outputs a running phase owns now (everything else
belongs in its safe state, see :mod:`equipment.safety`). :class:`IdleWatch` looks at
the flow and level of every dosing unit that no phase *runs* (none, or one HELD): flow
nobody commanded (someone at the local panel, a valve left open) or a high-high level
stops the transfer and raises one alarm per occurrence — on each notification and, for
a steady value that sends none, periodically from the latest values.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from equipment.commands import PhaseStatus
from equipment.config import DosingConfig, PlantConfig
from equipment.dosing import DosingPhase
from equipment.drivers.base import TagValue
from equipment.drivers.plantio import PlantIO
from equipment.errors import DriverError
from equipment.interlocks import Trip, TripKind, trip_on_value
from equipment.pli import PlcPhase
from equipment.safety import Alarm, OutputGuard
from equipment.supervision import LoopWatch

log = logging.getLogger(__name__)
ACTIVE = (PhaseStatus.PENDING, PhaseStatus.RUNNING)


def owned_outputs(phases: Iterable[DosingPhase | PlcPhase]) -> set[str]:
    """Outputs that a running phase owns now."""
    owned: set[str] = set()
    for phase in phases:
        if isinstance(phase, DosingPhase) and phase.state in ACTIVE:
            owned |= {t for t in (phase.cfg.inlet_valve, phase.cfg.pump, phase.cfg.pump_speed) if t}
        elif isinstance(phase, PlcPhase) and not phase.state.final:
            # The PLC runs the phase (also HELD): its handshake outputs stay with it.
            owned |= {t for t in (phase.cfg.command, phase.cfg.watchdog_write) if t}
            owned |= set(phase.cfg.setpoints.values())
    return owned


class IdleWatch:
    """Flow into, or a high-high level of, a dosing unit that no phase runs: stop it, alarm once."""

    def __init__(
        self,
        *,
        io: PlantIO,
        config: PlantConfig,
        phases: Callable[[], Iterable[DosingPhase | PlcPhase]],
        alarm: Alarm,
        guard: OutputGuard,
        period_s: float = 0.2,
        watch: LoopWatch | None = None,
    ) -> None:
        self.io, self.config, self.phases, self.alarm, self.guard = io, config, phases, alarm, guard
        self.period_s = period_s
        self.watch = watch
        self.ended_at: dict[str, float] = {}
        self.alarmed: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def phase_ended(self, unit: str) -> None:
        """A phase on ``unit`` ended or was held: the meter may run down for ``valve_follow_ms``."""
        self.ended_at[unit] = time.monotonic()

    def on_value(self, item: TagValue) -> None:
        for cfg in self.config.dosing.values():
            if item.tag in (cfg.flow, cfg.level):
                self.check(cfg, item)

    def check(self, cfg: DosingConfig, item: TagValue) -> None:
        phases = list(self.phases())
        if not item.good or any(p.cfg.unit == cfg.unit and p.state in ACTIVE for p in phases):
            return
        if (time.monotonic() - self.ended_at.get(cfg.unit, 0.0)) * 1000 < cfg.valve_follow_ms:
            return  # the meter still runs down after a phase of ours ended
        trip = trip_on_value(cfg, item, pump_commanded=False)
        if trip is not None and trip.kind is TripKind.HIGH_HIGH and _held_for(phases, cfg.unit, trip.kind):
            trip = None  # that phase's own high-high alarm stands; the guard keeps its outputs safe
        key = f"{cfg.unit}:{item.tag}"
        if trip is None:
            self.alarmed.discard(key)
        elif key not in self.alarmed:
            self.alarmed.add(key)
            for tag in (cfg.inlet_valve, cfg.pump):
                task = asyncio.ensure_future(self._write_safe(tag))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            self.guard.wake()
            message = f"{trip.message} (no phase is running on {cfg.unit})"
            self.alarm(cfg.unit, Trip(trip.kind, message, trip.tag, trip.value))

    async def run(self) -> None:
        """A steady flow sends no new notification: look at the latest values periodically too."""
        delay = self.period_s
        while True:
            await asyncio.sleep(delay)
            delay = self.period_s
            try:
                self._check_all()
            except Exception as exc:
                if self.watch is None:
                    raise
                delay = max(self.period_s, self.watch.failed(exc, f"units {', '.join(self.config.dosing)}"))
            else:
                if self.watch is not None:
                    self.watch.succeeded()

    def _check_all(self) -> None:
        for cfg in self.config.dosing.values():
            for tag in (cfg.flow, cfg.level):
                item = self.io.latest.get(tag)
                if item is not None and self.io.connected.get(self.io.endpoint_of(tag), False):
                    self.check(cfg, item)

    async def _write_safe(self, tag: str) -> None:
        try:
            await self.io.write(tag, False)
        except DriverError as exc:
            # The output guard keeps trying until the feedback confirms it (and alarms if it cannot).
            log.warning("idle-flow stop write to %s failed: %s", tag, exc)


def _held_for(phases: Iterable[Any], unit: str, kind: TripKind) -> bool:
    return any(
        isinstance(p, DosingPhase) and p.cfg.unit == unit and p.trip is not None and p.trip.kind is kind for p in phases
    )
