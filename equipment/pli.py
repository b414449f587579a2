"""PLC phase interface (ISA-88 phase logic interface, in the manner of Sepasoft's PLI).

For a phase whose logic runs in the PLC, the runtime writes the setpoints and a
command code to the phase's nodes, the PLC takes the command (and clears it) and
reports its ISA-88 state; a non-zero refusal code means the PLC refused the
command (a permissive of its own). A watchdog handshake runs while the phase is
active: the runtime writes an incrementing counter, the PLC echoes it; an echo
that lags more than ``watchdog_ms`` — or a lost connection — puts the phase on
HELD (and asks the PLC to hold). Reports (e.g. the reached temperature) are read
when the phase ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine, Mapping
from decimal import Decimal
from enum import IntEnum
from typing import Any

from equipment.commands import PhaseStatus
from equipment.config import PlcPhaseConfig
from equipment.dosing import PhaseReport, Reporter, to_decimal
from equipment.drivers.base import TagValue
from equipment.drivers.plantio import PlantIO
from equipment.errors import CommandRefused, DriverError, PermissiveFailed
from equipment.interlocks import Trip, TripKind

log = logging.getLogger(__name__)


class PlcCommand(IntEnum):
    NONE = 0
    START = 1
    HOLD = 2
    RESTART = 3
    STOP = 4
    ABORT = 5
    RESET = 6


class PlcState(IntEnum):
    IDLE = 1
    RUNNING = 2
    COMPLETE = 3
    HOLDING = 4
    HELD = 5
    RESTARTING = 6
    STOPPING = 7
    STOPPED = 8
    ABORTING = 9
    ABORTED = 10


TO_PHASE = {
    PlcState.RUNNING: PhaseStatus.RUNNING,
    PlcState.RESTARTING: PhaseStatus.RUNNING,
    PlcState.HOLDING: PhaseStatus.HELD,
    PlcState.HELD: PhaseStatus.HELD,
    PlcState.COMPLETE: PhaseStatus.COMPLETE,
    PlcState.STOPPING: PhaseStatus.STOPPED,
    PlcState.STOPPED: PhaseStatus.STOPPED,
    PlcState.ABORTING: PhaseStatus.ABORTED,
    PlcState.ABORTED: PhaseStatus.ABORTED,
}
SETTLED = {PlcState.RUNNING, PlcState.HELD, PlcState.COMPLETE, PlcState.STOPPED, PlcState.ABORTED, PlcState.IDLE}


class PlcPhase:
    """One run of a PLC phase, followed by the runtime."""

    def __init__(
        self, *, io: PlantIO, cfg: PlcPhaseConfig, phase_ref: str, setpoints: Mapping[str, Decimal], report: Reporter
    ) -> None:
        unknown = set(setpoints) - set(cfg.setpoints)
        if unknown:
            raise CommandRefused(
                f"{cfg.name} has no setpoint {', '.join(sorted(unknown))}; known: {', '.join(cfg.setpoints)}"
            )
        self.io, self.cfg, self.phase_ref, self.setpoints, self.report = io, cfg, phase_ref, dict(setpoints), report
        self.state = PhaseStatus.PENDING
        self._counter = 0
        self._sent: int | None = None
        self._seen_sent = self._taken = False
        self._echoed_at = time.monotonic()
        self._tasks: set[asyncio.Task[None]] = set()

    def _plc_state(self) -> PlcState | None:
        item = self.io.latest.get(self.cfg.state)
        if item is None or not item.good:
            return None
        try:
            return PlcState(int(item.number()))
        except ValueError:
            return None

    async def _send(self, command: PlcCommand, wanted: set[PlcState]) -> PlcState:
        """Write ``command`` and wait for a settled state in ``wanted``; raise on refusal or timeout."""
        self._sent, self._seen_sent, self._taken = int(command), False, False
        await self.io.write(self.cfg.command, int(command))
        deadline = time.monotonic() + self.cfg.response_ms / 1000
        while time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            state = self._plc_state()
            if state in wanted:
                return state
            refusal = self.io.latest.get(self.cfg.refusal) if self.cfg.refusal else None
            if self._taken and refusal is not None and refusal.value:
                raise PermissiveFailed(
                    f"the PLC refused {command.name.lower()} of {self.cfg.name} (code {refusal.value})"
                )
        raise CommandRefused(
            f"the PLC did not answer {command.name.lower()} of {self.cfg.name} within {self.cfg.response_ms:g} ms"
        )

    async def start(self) -> None:
        """Write setpoints, send START and wait until the PLC reports RUNNING (raises PermissiveFailed)."""
        if self._plc_state() not in (PlcState.IDLE, PlcState.COMPLETE, PlcState.STOPPED, PlcState.ABORTED):
            raise PermissiveFailed(f"{self.cfg.name} is not idle in the PLC ({self._plc_state()})")
        if self._plc_state() is not PlcState.IDLE:
            await self._send(PlcCommand.RESET, {PlcState.IDLE})
        for name, value in self.setpoints.items():
            await self.io.write(self.cfg.setpoints[name], float(value))
        self._echoed_at = time.monotonic()
        await self._send(PlcCommand.START, {PlcState.RUNNING, PlcState.COMPLETE})
        self._enter(PhaseStatus.RUNNING, "started in the PLC")
        self._spawn(self._watchdog())

    async def hold(self, reason: str) -> None:
        await self._send(PlcCommand.HOLD, {PlcState.HELD})
        self._enter(PhaseStatus.HELD, reason)

    async def restart(self) -> None:
        self._echoed_at = time.monotonic()
        await self._send(PlcCommand.RESTART, {PlcState.RUNNING, PlcState.COMPLETE})
        self._enter(PhaseStatus.RUNNING, "restarted in the PLC")
        self._spawn(self._watchdog())

    async def stop(self, *, abort: bool = False, reason: str = "") -> None:
        command = PlcCommand.ABORT if abort else PlcCommand.STOP
        state = await self._send(command, {PlcState.ABORTED if abort else PlcState.STOPPED})
        self._enter(TO_PHASE[state], reason or ("aborted by command" if abort else "stopped by command"))

    def _enter(self, state: PhaseStatus, reason: str, trip: Trip | None = None) -> None:
        if state is self.state and trip is None:
            return
        self.state = state
        if state.final:
            self._spawn(self._finish(state, reason))
        else:
            self.report(PhaseReport(self.phase_ref, self.cfg.unit, state, None, reason, trip))

    async def _finish(self, state: PhaseStatus, reason: str) -> None:
        """Read the PLC's reports fresh (not the display-rate cache) and report the end."""
        reports: dict[str, str] = {}
        try:
            values = await self.io.read(list(self.cfg.reports.values()))
        except DriverError as exc:
            reason = f"{reason} (reports unreadable: {exc})"
            values = {}
        for name, tag in self.cfg.reports.items():
            item = values.get(tag)
            if item is not None and item.good:
                reports[name] = str(to_decimal(item.number(), 3))
        self.report(PhaseReport(self.phase_ref, self.cfg.unit, state, None, reason, None, reports))

    def on_value(self, item: TagValue) -> None:
        """Follow the state the PLC reports (a PLC-side hold or completion is recorded too)."""
        if item.tag == self.cfg.watchdog_read and item.value == self._counter:
            self._echoed_at = time.monotonic()
        if item.tag == self.cfg.command:
            # Handshake: our command shows up, then the PLC clears it when it has taken it.
            self._seen_sent = self._seen_sent or item.value == self._sent
            self._taken = self._taken or (self._seen_sent and item.value == 0)
        if item.tag != self.cfg.state or self.state not in (PhaseStatus.RUNNING, PhaseStatus.HELD):
            return
        state = self._plc_state()
        if state in SETTLED and state in TO_PHASE and TO_PHASE[state] is not self.state:
            self._enter(TO_PHASE[state], f"the PLC reports {state.name.lower()}")

    def on_connection(self, endpoint: str, connected: bool, reason: str) -> None:
        if not connected and self.state is PhaseStatus.RUNNING:
            self._trip(Trip(TripKind.COMMUNICATION_LOST, f"connection to {endpoint} lost: {reason}"))

    def tick(self) -> None:
        if self.state is not PhaseStatus.RUNNING or self.cfg.watchdog_read is None:
            return
        lag = (time.monotonic() - self._echoed_at) * 1000
        if lag > self.cfg.watchdog_ms:
            self._trip(Trip(TripKind.STALE_DATA, f"PLC watchdog of {self.cfg.name} not echoed for {lag:.0f} ms"))

    def _trip(self, trip: Trip) -> None:
        self._enter(PhaseStatus.HELD, trip.message, trip)
        self._spawn(self.ask_hold())

    async def ask_hold(self) -> None:
        """Ask the PLC to hold, ignoring a dead link (the record already says HELD)."""
        with contextlib.suppress(DriverError):
            await self.io.write(self.cfg.command, int(PlcCommand.HOLD))

    async def _watchdog(self) -> None:
        if self.cfg.watchdog_write is None:
            return
        period = self.cfg.watchdog_ms / 4000
        while self.state is PhaseStatus.RUNNING:
            self._counter = (self._counter + 1) % 30000
            try:
                await self.io.write(self.cfg.watchdog_write, self._counter)
            except DriverError as exc:
                log.warning("%s: watchdog write failed: %s", self.phase_ref, exc)
            await asyncio.sleep(period)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
