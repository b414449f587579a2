"""The automated dosing phase as the runtime runs it: permissives, command, follow, stop, trip.

:class:`DosingPhase` holds no database and no session: it reads the latest values
from :class:`PlantIO`, writes commands through it, and reports what happened by
calling ``report`` with a :class:`PhaseReport` (the runtime records it afterwards,
in another task). A trip is acted on inside :meth:`on_value` — the data-change
callback — by issuing the pump-stop and valve-close writes at once.

Quantities: the plant speaks floats; the phase reports ``Decimal`` rounded to the
totalizer tag's configured ``decimals``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from equipment.commands import PhaseStatus
from equipment.config import DosingConfig
from equipment.drivers.base import TagValue
from equipment.drivers.plantio import PlantIO
from equipment.errors import DriverError, PermissiveFailed
from equipment.interlocks import TimerInputs, Trip, TripKind, check_permissives, trip_on_time, trip_on_value

log = logging.getLogger(__name__)
STOP_LAG_S = 0.05  # stop this early at the current flow: one physics/PLC scan of product in flight


@dataclass(frozen=True)
class PhaseReport:
    """A state change of a phase, for the recorder."""

    phase_ref: str
    unit: str
    state: PhaseStatus
    actual: Decimal | None
    reason: str
    trip: Trip | None = None
    data: dict[str, Any] = field(default_factory=dict)


Reporter = Callable[[PhaseReport], None]


def to_decimal(value: float, decimals: int) -> Decimal:
    """A float from the plant as an exact Decimal with ``decimals`` places (the stated precision)."""
    return Decimal(f"{value:.{decimals}f}")


class DosingPhase:
    """One dosing of ``target`` ± ``tolerance`` from ``source`` into ``cfg.unit``."""

    def __init__(
        self,
        *,
        io: PlantIO,
        cfg: DosingConfig,
        phase_ref: str,
        source: str,
        target: Decimal,
        tolerance: Decimal,
        quantity_unit: str,
        requires_agitator: bool,
        report: Reporter,
        decimals: int = 3,
        delivered_before: Decimal = Decimal(0),
    ) -> None:
        self.io, self.cfg, self.phase_ref = io, cfg, phase_ref
        self.source, self.target, self.tolerance = source, target, tolerance
        self.quantity_unit, self.requires_agitator = quantity_unit, requires_agitator
        self.report, self.decimals = report, decimals
        self.state = PhaseStatus.PENDING
        self.trip: Trip | None = None
        self._delivered_before = float(delivered_before)
        self._start_total = 0.0
        self._valve_cmd = False
        self._valve_cmd_at = time.monotonic()
        self._pump_cmd = False
        self._pump_off_at = 0.0
        self._fine = False
        self._flowing_since: float | None = None
        self._level_changed_at = time.monotonic()
        self._last_level: float | None = None
        self._finishing = False
        self._tasks: set[asyncio.Task[None]] = set()

    # -- quantities ----------------------------------------------------------------

    def delivered(self) -> float:
        total = self.io.latest.get(self.cfg.totalizer)
        if total is None or total.value is None:
            return self._delivered_before
        return self._delivered_before + total.number() - self._start_total

    def actual(self) -> Decimal:
        return to_decimal(self.delivered(), self.decimals)

    # -- commands --------------------------------------------------------------------

    async def start(self) -> None:
        """Check permissives, then open the valve and start the pump. Raises PermissiveFailed."""
        remaining = float(self.target) - self._delivered_before
        problems = check_permissives(
            self.cfg, self.io.latest, source=self.source, quantity=remaining, requires_agitator=self.requires_agitator
        )
        if not all(self.io.connected.get(self.io.endpoint_of(t), False) for t in (self.cfg.level, self.cfg.pump)):
            problems.append("the plant connection is down")
        if problems:
            raise PermissiveFailed("dosing may not start: " + "; ".join(problems), failed=problems)
        self._start_total = self.io.latest[self.cfg.totalizer].number()
        self.trip, self._finishing, self._fine = None, False, False
        self.state = PhaseStatus.RUNNING
        if self.cfg.pump_speed:
            await self.io.write(self.cfg.pump_speed, 100.0)
        await self._command(valve=True, pump=True)
        self._flowing_since = time.monotonic()
        self._level_changed_at = time.monotonic()
        self.report(PhaseReport(self.phase_ref, self.cfg.unit, PhaseStatus.RUNNING, self.actual(), "dosing started"))

    async def _command(self, *, valve: bool, pump: bool) -> None:
        if valve != self._valve_cmd:
            self._valve_cmd_at = time.monotonic()
        if self._pump_cmd and not pump:
            self._pump_off_at = time.monotonic()
        self._valve_cmd, self._pump_cmd = valve, pump
        # Pump first on stop (no dead-heading), valve first on start.
        writes = [(self.cfg.pump, pump), (self.cfg.inlet_valve, valve)]
        for tag, value in writes if not pump else reversed(writes):
            await self.io.write(tag, value)

    def _safe_now(self) -> None:
        """Issue the stop writes at once from a callback (no await, no database)."""
        self._valve_cmd_at = time.monotonic() if self._valve_cmd else self._valve_cmd_at
        self._pump_off_at = time.monotonic() if self._pump_cmd else self._pump_off_at
        self._valve_cmd = self._pump_cmd = False
        self._flowing_since = None
        # The inlet valve first: closing it ends the transfer; the pump stop follows at once.
        for tag in (self.cfg.inlet_valve, self.cfg.pump):
            self._spawn(self._write_quietly(tag, False))

    async def _write_quietly(self, tag: str, value: bool) -> None:
        try:
            await self.io.write(tag, value)
        except DriverError as exc:
            # The trip is recorded either way; the PLC's own watchdog must cover a dead link.
            log.warning("%s: safe-state write to %s failed: %s", self.phase_ref, tag, exc)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def hold(self, reason: str) -> None:
        if self.state is PhaseStatus.RUNNING:
            self._safe_now()
            await self.settle()
            self._enter(PhaseStatus.HELD, reason)

    async def restart(self) -> None:
        """From HELD: check permissives again and continue to the remaining target."""
        self._delivered_before = self.delivered()
        await self.start()

    async def stop(self, *, abort: bool = False, reason: str = "") -> None:
        self._safe_now()
        await self.settle()
        state = PhaseStatus.ABORTED if abort else PhaseStatus.STOPPED
        self._enter(state, reason or ("aborted by command" if abort else "stopped by command"))

    async def settle(self) -> None:
        """Let the stop writes land and the meter come to rest before reading the quantity."""
        pending = [t for t in self._tasks if t is not asyncio.current_task()]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.sleep(0.3)

    def _enter(self, state: PhaseStatus, reason: str, trip: Trip | None = None) -> None:
        self.state = state
        self.report(PhaseReport(self.phase_ref, self.cfg.unit, state, self.actual(), reason, trip))

    # -- the fast path -----------------------------------------------------------------

    def on_value(self, item: TagValue) -> None:
        """Data-change callback: trips act here, at once; the target is watched here."""
        if self.state is not PhaseStatus.RUNNING:
            return
        if item.tag == self.cfg.level and item.value is not None and item.number() != self._last_level:
            self._last_level = item.number()
            self._level_changed_at = time.monotonic()
        trip = trip_on_value(self.cfg, item, pump_commanded=self._pump_expected())
        if trip is not None:
            self.trip_now(trip)
        elif item.tag in (self.cfg.totalizer, self.cfg.flow) and not self._finishing:
            self._follow_target()

    def _pump_expected(self) -> bool:
        """Flow is expected while the pump is commanded, and while it runs down after a stop."""
        return self._pump_cmd or (time.monotonic() - self._pump_off_at) * 1000 < self.cfg.valve_follow_ms

    def trip_now(self, trip: Trip) -> None:
        """Stop the transfer at once, then report HELD (the recorder writes alarm and audit)."""
        if self.state is not PhaseStatus.RUNNING:
            return
        self._safe_now()
        self.trip = trip
        self.state = PhaseStatus.HELD
        self._spawn(self._report_trip(trip))

    async def _report_trip(self, trip: Trip) -> None:
        await asyncio.sleep(0)  # the stop writes are already on their way
        self.report(PhaseReport(self.phase_ref, self.cfg.unit, PhaseStatus.HELD, self.actual(), trip.message, trip))

    def on_connection(self, endpoint: str, connected: bool, reason: str) -> None:
        if not connected and self.state is PhaseStatus.RUNNING:
            self.trip_now(Trip(TripKind.COMMUNICATION_LOST, f"connection to {endpoint} lost: {reason}"))

    def tick(self) -> None:
        """Timer check (every few tens of ms): valve following, frozen data."""
        if self.state is not PhaseStatus.RUNNING:
            return
        feedback = self.io.latest.get(self.cfg.inlet_valve_feedback)
        inputs = TimerInputs(
            now=time.monotonic(),
            valve_commanded=self._valve_cmd,
            valve_commanded_at=self._valve_cmd_at,
            valve_feedback=None if feedback is None or feedback.value is None else bool(feedback.value),
            flowing_since=self._flowing_since if self._valve_feedback_open() else None,
            level_changed_at=self._level_changed_at,
        )
        trip = trip_on_time(self.cfg, inputs)
        if trip is not None:
            self.trip_now(trip)

    def _valve_feedback_open(self) -> bool:
        feedback = self.io.latest.get(self.cfg.inlet_valve_feedback)
        return feedback is not None and bool(feedback.value)

    def _follow_target(self) -> None:
        remaining = float(self.target) - self.delivered()
        flow = self.io.latest.get(self.cfg.flow)
        flow_lps = flow.number() / 60 if flow is not None and flow.value is not None else 0.0
        if remaining <= flow_lps * STOP_LAG_S:
            self._finishing = True
            self._safe_now()
            self._spawn(self._complete())
        elif not self._fine and self.cfg.pump_speed and remaining <= self.cfg.fine_band:
            self._fine = True
            self._spawn(self._write_quietly_value(self.cfg.pump_speed, self.cfg.fine_speed_pct))

    async def _write_quietly_value(self, tag: str, value: float) -> None:
        with contextlib.suppress(DriverError):
            await self.io.write(tag, value)

    async def _complete(self) -> None:
        await self.settle()
        if self.state is not PhaseStatus.RUNNING:
            return
        actual = self.actual()
        within = abs(actual - self.target) <= self.tolerance
        reason = "target reached" if within else f"actual {actual} outside {self.target} ± {self.tolerance}"
        self._enter(PhaseStatus.COMPLETE, reason)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
