"""The automated dosing phase as the runtime runs it: permissives, command, follow, stop, trip.

:class:`DosingPhase` holds no database and no session: it reads the latest values
from :class:`PlantIO`, writes commands through it, and reports what happened by
calling ``report`` with a :class:`PhaseReport` (the runtime records it afterwards,
in another task). A trip is acted on inside :meth:`on_value` — the data-change
callback — by issuing the pump-stop and valve-close writes at once.

Quantities: the delivered amount is the sum of confirmed totalizer increments, as exact
``Decimal`` (of the values the meter published), never "totalizer now − totalizer at start":
a totalizer that goes back (a device restart, a meter reset) or jumps by more than the meter
can count is a discontinuity — recorded, the phase HELD, the delivered amount kept — so a
restart continues from what was recorded. Target and tolerance are converted once into the
totalizer's unit (``ebr.core.units``); the flow tag's unit gives the flow per second. The phase
reports ``Decimal`` rounded to the totalizer tag's ``decimals``, in the target's unit.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ebr.core import units
from ebr.core.errors import ValidationError
from equipment.commands import PhaseStatus
from equipment.compensation import StopLead
from equipment.config import DosingConfig
from equipment.drivers.base import TagValue
from equipment.drivers.plantio import PlantIO
from equipment.errors import CommandRefused, DriverError, PermissiveFailed
from equipment.interlocks import TimerInputs, Trip, TripKind, check_permissives, trip_on_time, trip_on_value

log = logging.getLogger(__name__)
JUMP_SLACK_S = 1.0  # a notification may carry up to this much more than its own interval of flow
MAX_EXTRAPOLATION_S = 0.3  # a meter value older than this is not extrapolated further (clock skew)


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
        lead: StopLead | None = None,
        settle_s: float = 0.3,
    ) -> None:
        self.io, self.cfg, self.phase_ref = io, cfg, phase_ref
        self.source, self.target, self.tolerance = source, target, tolerance
        self.quantity_unit, self.requires_agitator = quantity_unit, requires_agitator
        self.report, self.decimals = report, decimals
        self.lead = lead or StopLead(cfg.valve_travel_ms / 1000)
        self.settle_s = settle_s
        self.state = PhaseStatus.PENDING
        self.trip: Trip | None = None
        self.discontinuities: list[str] = []
        self._unit_problem = ""
        self._target_q = self._to_meter(target)
        self._limit_q = self._target_q + self._to_meter(tolerance)
        self._delivered = self._to_meter(delivered_before)
        self._last_total: Decimal | None = None
        self._last_total_at = time.monotonic()
        self._overdose_alarmed = False
        self._stop_decided: tuple[Decimal, float] | None = None
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

    def _to_meter(self, amount: Decimal) -> Decimal:
        """``amount`` in the target's unit, expressed in the totalizer's unit."""
        unit = self.quantity_unit or self.cfg.quantity_unit
        try:
            return units.convert(amount, unit, self.cfg.quantity_unit)
        except ValidationError as exc:
            self._unit_problem = (
                f"the target is in {unit} but {self.cfg.totalizer} counts {self.cfg.quantity_unit}: {exc}"
            )
            return amount

    def delivered(self) -> float:
        """Delivered so far in the totalizer's unit (for control decisions)."""
        return float(self._delivered)

    def delivered_exact(self) -> Decimal:
        return self._delivered

    def actual(self) -> Decimal:
        """The delivered amount for the record: the target's unit, the totalizer's decimals."""
        unit = self.quantity_unit or self.cfg.quantity_unit
        amount = self._delivered if self._unit_problem else units.convert(self._delivered, self.cfg.quantity_unit, unit)
        return amount.quantize(Decimal(1).scaleb(-self.decimals))

    def rebaseline(self) -> None:
        """Count increments from the totalizer's current value on (a phase rebuilt from the record)."""
        total = self.io.latest.get(self.cfg.totalizer)
        self._last_total = _meter(total) if total is not None and total.good else None
        self._last_total_at = time.monotonic()

    def _count(self, item: TagValue) -> None:
        """Add a confirmed totalizer increment; a step back or an impossible jump is a discontinuity."""
        if not item.good:
            return
        value, now = _meter(item), time.monotonic()
        last, elapsed = self._last_total, now - self._last_total_at
        self._last_total, self._last_total_at = value, now
        if last is None:
            return
        delta = value - last
        unit = self.cfg.quantity_unit
        if delta < 0:
            self._discontinuity(f"{item.tag} went back from {last} to {value} {unit} (device restart or meter reset?)")
        elif self.cfg.max_flow and delta > Decimal(repr(self.cfg.max_flow * (elapsed + JUMP_SLACK_S))):
            # Counted (what the meter says went in may have gone in: never under-count towards an
            # overdose), but the phase holds until someone has looked at the plant.
            self._delivered += delta
            self._discontinuity(
                f"{item.tag} jumped by {delta} {unit} in {elapsed:.1f} s, more than the meter can count "
                f"at its top flow of {self.cfg.max_flow:g} {unit}/s (counted as delivered)"
            )
            self._check_overdose()
        elif delta:
            self._delivered += delta
            self._check_overdose()

    def _discontinuity(self, what: str) -> None:
        self.discontinuities.append(what)
        reason = (
            f"{what}: the delivered amount stays at the recorded {self.actual()} {self.quantity_unit}; check the "
            "plant, then restart (continues from that amount) or stop"
        )
        self._alarm(Trip(TripKind.TOTALIZER_DISCONTINUITY, reason, self.cfg.totalizer, None))

    def _check_overdose(self) -> None:
        if self._delivered <= self._limit_q or self._overdose_alarmed:
            return
        self._overdose_alarmed = True
        reason = (
            f"delivered {self.actual()} {self.quantity_unit} exceeds the target {self.target}"
            f" + tolerance {self.tolerance}"
        )
        self._alarm(Trip(TripKind.OVERDOSE, reason, self.cfg.totalizer, None))

    def _alarm(self, trip: Trip) -> None:
        """Trip a running phase; a held one stays HELD and records the alarm with its reason."""
        if self.state is PhaseStatus.RUNNING:
            self.trip_now(trip)
        elif self.state is PhaseStatus.HELD:
            self.trip = trip
            self.report(PhaseReport(self.phase_ref, self.cfg.unit, PhaseStatus.HELD, self.actual(), trip.message, trip))

    def _stale(self, now: float | None = None) -> list[str]:
        limit = self.cfg.max_data_age_ms / 1000
        tags = [self.cfg.level, self.cfg.totalizer, self.cfg.flow, self.cfg.inlet_valve_feedback]
        ages = {tag: self.io.age(tag, now) for tag in tags}
        return [
            f"{tag} is not current ({age:.1f} s since its endpoint last answered, limit {limit:g} s)"
            for tag, age in ages.items()
            if age > limit and age != float("inf")
        ]

    # -- commands --------------------------------------------------------------------

    async def start(self) -> None:
        """Check permissives, then open the valve and start the pump. Raises PermissiveFailed."""
        remaining = float(self._target_q - self._delivered)
        problems = [self._unit_problem] if self._unit_problem else []
        problems += self._stale()
        problems += check_permissives(
            self.cfg, self.io.latest, source=self.source, quantity=remaining, requires_agitator=self.requires_agitator
        )
        if not all(self.io.connected.get(self.io.endpoint_of(t), False) for t in (self.cfg.level, self.cfg.pump)):
            problems.append("the plant connection is down")
        if problems:
            raise PermissiveFailed("dosing may not start: " + "; ".join(problems), failed=problems)
        if self._last_total is None:
            self.rebaseline()
        restarted = self.state is PhaseStatus.HELD
        self.trip, self._finishing, self._fine, self._stop_decided = None, False, False, None
        self.state = PhaseStatus.RUNNING
        if self.cfg.pump_speed:
            await self.io.write(self.cfg.pump_speed, 100.0)
        if self.state is not PhaseStatus.RUNNING:
            return  # a trip during the speed write: its stop writes stand, the trip is reported
        await self._command(valve=True, pump=True)
        if self.state is not PhaseStatus.RUNNING:
            return  # tripped during the start writes: the trip's HELD is the report
        self._flowing_since = time.monotonic()
        self._level_changed_at = time.monotonic()
        reason = (
            f"dosing restarted at {self.actual()} {self.quantity_unit} delivered" if restarted else "dosing started"
        )
        if restarted and self.discontinuities:
            reason += "; continuing from the recorded amount after: " + "; ".join(self.discontinuities)
        self.report(PhaseReport(self.phase_ref, self.cfg.unit, PhaseStatus.RUNNING, self.actual(), reason))

    async def _command(self, *, valve: bool, pump: bool) -> None:
        if valve != self._valve_cmd:
            self._valve_cmd_at = time.monotonic()
        if self._pump_cmd and not pump:
            self._pump_off_at = time.monotonic()
        self._valve_cmd, self._pump_cmd = valve, pump
        # Pump first on stop (no dead-heading), valve first on start.
        writes = [(self.cfg.pump, pump), (self.cfg.inlet_valve, valve)]
        for tag, value in writes if not pump else reversed(writes):
            if value and self.state is not PhaseStatus.RUNNING:
                return  # tripped while an earlier write was under way: never open after a trip
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
        """From HELD: check permissives again and continue from the recorded amount to the target."""
        if self._delivered >= self._target_q:
            raise CommandRefused(
                f"nothing left to dose: {self.actual()} of {self.target} {self.quantity_unit} delivered; stop the phase"
            )
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
        await asyncio.sleep(self.settle_s)
        if self.settle_s <= 0 or not self.io.connected.get(self.io.endpoint_of(self.cfg.flow), False):
            return
        # A valve that travels (or a pump that runs down) keeps the meter counting after the stop:
        # wait until the flow reads zero, then for the meter's last notification.
        deadline = time.monotonic() + self.cfg.valve_follow_ms / 1000 + 1.0
        while self._flowing() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(min(self.settle_s, 0.15))

    def _flowing(self) -> bool:
        flow = self.io.latest.get(self.cfg.flow)
        return flow is not None and flow.good and flow.number() > self.cfg.flow_without_command

    def _enter(self, state: PhaseStatus, reason: str, trip: Trip | None = None) -> None:
        self.state = state
        self.report(PhaseReport(self.phase_ref, self.cfg.unit, state, self.actual(), reason, trip))

    # -- the fast path -----------------------------------------------------------------

    def on_value(self, item: TagValue) -> None:
        """Data-change callback: trips act here, at once; the target is watched here."""
        if item.tag == self.cfg.totalizer and not self.state.final:
            self._count(item)  # also while HELD: product that still flows is delivered product
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
        if not self._finishing:
            self._follow_target()
            if self._finishing:
                return
        trip = trip_on_time(self.cfg, inputs)
        stale = self._stale(inputs.now) if trip is None else []
        if stale:
            trip = Trip(TripKind.STALE_DATA, "; ".join(stale), self.cfg.level, None)
        if trip is not None:
            self.trip_now(trip)

    def _valve_feedback_open(self) -> bool:
        feedback = self.io.latest.get(self.cfg.inlet_valve_feedback)
        return feedback is not None and bool(feedback.value)

    def _follow_target(self) -> None:
        """Stop when the remaining amount is what is still in flight; slow down within the fine band.

        The meter's last value is already old when it is seen (publishing interval, network,
        a busy event loop): the delivered amount is extrapolated at the current flow over the
        value's age (at most ``MAX_EXTRAPOLATION_S``), and the check also runs from the timer,
        between notifications. What is left after the close is the valve's travel (``lead``).
        """
        flow = self.io.latest.get(self.cfg.flow)
        rate = flow.number() * self.cfg.flow_factor if flow is not None and flow.good else 0.0
        estimate = self.delivered() + rate * self._meter_age()
        remaining = float(self._target_q) - estimate
        if remaining <= self.lead.in_flight(rate):
            self._finishing = True
            self._stop_decided = (Decimal(repr(estimate)), rate)
            self._safe_now()
            self._spawn(self._complete())
        elif not self._fine and self.cfg.pump_speed and remaining <= self.cfg.fine_band:
            self._fine = True
            self._spawn(self._write_quietly_value(self.cfg.pump_speed, self.cfg.fine_speed_pct))

    def _meter_age(self) -> float:
        """Seconds since the totalizer measured its last value (source timestamp; arrival if none)."""
        total = self.io.latest.get(self.cfg.totalizer)
        if total is None:
            return 0.0
        if total.source_ts is not None:
            age = (dt.datetime.now(dt.UTC) - total.source_ts).total_seconds()
        else:
            age = time.monotonic() - total.received
        return min(MAX_EXTRAPOLATION_S, max(0.0, age))

    async def _write_quietly_value(self, tag: str, value: float) -> None:
        with contextlib.suppress(DriverError):
            await self.io.write(tag, value)

    async def _complete(self) -> None:
        await self.settle()
        if self.state is not PhaseStatus.RUNNING:
            return
        if self._stop_decided is not None:
            at, rate = self._stop_decided
            self.lead.learn(float(self._delivered - at), rate)
        actual = self.actual()
        within = abs(actual - self.target) <= self.tolerance
        reason = "target reached" if within else f"actual {actual} outside {self.target} ± {self.tolerance}"
        self._enter(PhaseStatus.COMPLETE, reason)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _meter(item: TagValue) -> Decimal:
    """A meter reading as the exact decimal it was published as (``repr`` of the float)."""
    return Decimal(repr(item.number()))
