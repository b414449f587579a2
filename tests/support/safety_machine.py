"""The state machine of issue 15: random commands and plant faults against the runtime's safety core.

The real :class:`EquipmentRuntime` (its command handling, phases, output guard and idle
watch) runs against the in-process plant model of ``tests/support/plantmodel.py``; only
its recorder is an in-memory list (the database is not what is being proven here).
Hypothesis drives start, hold, restart, stop, abort, link cut, link restore, device
restart with totalizer reset, stuck valve and slow feedback; after every step:

- an open valve (commanded or by its feedback) has a running owner, or the output guard
  is driving it closed (and alarms once it has not been confirmed within its limit);
- no output stays unconfirmed beyond its limit without an alarm;
- a delivered amount above target + tolerance was alarmed and held at that moment;
- every HELD carries its reason; no recorded actual is negative.

Subclasses point it at another plant (``tests/integration/equipment/test_safety_stateful_real.py``:
node-opcua through the fault proxy) by overriding ``_build``, ``_subscribe`` and ``_advance``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from audit.trail import AuditTrail
from ebr.clock import SystemClock, utc_now
from ebr.errors import EquipmentError
from equipment.commands import CommandKind, PhaseStatus
from equipment.config import PlantConfig
from equipment.dosing import DosingPhase, PhaseReport
from equipment.drivers.plantio import PlantIO
from equipment.interlocks import Trip, TripKind
from equipment.recorder import CommandData
from equipment.runtime import EquipmentRuntime
from tests.support.plantmodel import ModelPlant, model_config

VALVE = "R-101.inlet_valve"


class MemoryRecorder:
    """What the runtime would record, kept in lists."""

    def __init__(self) -> None:
        self.reports: list[PhaseReport] = []
        self.alarms: list[tuple[str, Trip]] = []
        self.events: list[str] = []

    def record(self, report: PhaseReport) -> None:
        self.reports.append(report)

    def alarm(self, unit: str, trip: Trip) -> None:
        self.alarms.append((unit, trip))

    def log_event(self, kind: str, message: str, **_: Any) -> None:
        self.events.append(message)


class SafetyMachine(RuleBasedStateMachine):
    """One runtime, one plant, random commands and faults."""

    #: Plant steps of 50 ms after a link or device fault (a real link needs ~1 s to be called lost).
    FAULT_STEPS = 1

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.plant: Any = None
        self.config, io, settle_s = self._build()
        self.runtime = EquipmentRuntime(
            config=self.config,
            factory=None,  # type: ignore[arg-type]  # the recorder below never opens a session
            audit=AuditTrail(),
            clock=SystemClock(),
            io=io,
            settle_s=settle_s,
        )
        self.recorder = MemoryRecorder()
        self.runtime.recorder = self.recorder  # type: ignore[assignment]
        self.phases: list[DosingPhase] = []
        self.current: str | None = None
        self.counter = 0
        self.command_id = 0

    def _build(self) -> tuple[PlantConfig, PlantIO, float]:
        """The plant (``self.plant``), its configuration, the runtime's I/O and the settle time."""
        self.plant = ModelPlant()
        return model_config(), self.plant.io(), 0.0

    async def _ready(self) -> None:
        """Wait until the runtime has a value of every tag (in memory: at once)."""

    async def _subscribe(self) -> None:
        await self.runtime.io.subscribe(list(self.plant.values()), self.runtime._on_value)

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    async def _drain(self) -> None:
        for _ in range(5):
            await asyncio.sleep(0)
        while not self.runtime._reports.empty():
            self.recorder.record(self.runtime._reports.get_nowait())

    async def _settle(self, steps: int = 3) -> None:
        """Time passes: the plant moves, timers tick, the guard and the idle watch do their pass."""
        for _ in range(steps):
            await self._advance(0.05)
            for phase in list(self.runtime.phases.values()):
                phase.tick()
            await self._drain()
        cfg = self.config.dosing["R-101"]
        if self.plant.link_up:
            for tag in (cfg.flow, cfg.level):
                item = self.runtime.io.latest.get(tag)
                if item is not None:
                    self.runtime.idle.check(cfg, item)
        await self.runtime.guard.reconcile()
        await asyncio.sleep(0.001)  # the alarm tasks run in worker threads
        await self._drain()

    async def _advance(self, seconds: float) -> None:
        """Plant time passes (the model steps; a real server's subclass waits)."""
        self.plant.step(seconds)

    async def _command(self, kind: CommandKind, **parameters: Any) -> None:
        assert self.current is not None
        self.command_id += 1
        command = CommandData(self.command_id, self.current, kind.value, "R-101", parameters, utc_now())
        # Refused (permissive, state): the runtime records why; the invariants hold all the same.
        with contextlib.suppress(EquipmentError):
            await self.runtime._execute(command)
        await self._settle(0)  # a phase-ending command wakes the output guard at once

    @initialize()
    def connect(self) -> None:
        async def go() -> None:
            self.runtime.io.add_connection_listener(self.runtime._on_connection)
            await self._subscribe()
            await self.runtime.io.connect()
            await self._ready()
            await self._settle(1)

        self.run(go())

    # -- commands --------------------------------------------------------------------

    @rule(amount=st.integers(5, 40), tolerance=st.sampled_from(["0.5", "1", "2"]))
    def start(self, amount: int, tolerance: str) -> None:
        if any(p.cfg.unit == "R-101" for p in self.runtime.phases.values()):
            return
        self.counter += 1
        self.current = f"P{self.counter}"
        params = {"source": "T-100", "target": str(amount), "tolerance": tolerance, "unit": "L"}
        self.run(self._command(CommandKind.START_DOSING, **params))
        phase = self.runtime.phases.get(self.current)
        if isinstance(phase, DosingPhase):
            self.phases.append(phase)

    def _active(self) -> bool:
        return self.current is not None and self.current in self.runtime.phases

    @rule(kind=st.sampled_from([CommandKind.HOLD, CommandKind.RESTART, CommandKind.STOP, CommandKind.ABORT]))
    def command(self, kind: CommandKind) -> None:
        if self._active():
            self.run(self._command(kind))

    @rule(steps=st.integers(1, 40))
    def time_passes(self, steps: int) -> None:
        self.run(self._settle(steps))

    # -- faults ----------------------------------------------------------------------

    @rule()
    def link_cut(self) -> None:
        self.run(self.plant.cut())
        self.run(self._settle(self.FAULT_STEPS))

    @rule()
    def link_restore(self) -> None:
        self.run(self.plant.restore())
        self.run(self._settle(self.FAULT_STEPS))

    @rule()
    def device_restart_with_totalizer_reset(self) -> None:
        self.run(self.plant.restart_device())
        self.run(self._settle(self.FAULT_STEPS))

    @rule(stuck=st.booleans())
    def stuck_valve(self, stuck: bool) -> None:
        self.plant.valve_stuck = stuck

    @rule(delay=st.integers(0, 8))
    def slow_feedback(self, delay: int) -> None:
        self.plant.feedback_delay = delay

    # -- invariants --------------------------------------------------------------------

    @invariant()
    def an_open_valve_has_a_running_owner_or_the_guard_on_it(self) -> None:
        if not (self.plant.valve_cmd or self.plant.valve_open):
            return
        owned = VALVE in self.runtime.owned_outputs()
        guarded = VALVE in self.runtime.guard.unconfirmed_since or VALVE in self.runtime.guard.alarmed
        assert owned or guarded, f"valve open (cmd {self.plant.valve_cmd}, fb {self.plant.valve_open}), no owner"

    @invariant()
    def no_output_stays_unconfirmed_past_its_limit_without_an_alarm(self) -> None:
        guard = self.runtime.guard
        limits = {o.tag: o.confirm_s for o in guard.outputs}
        for tag, since in guard.unconfirmed_since.items():
            if guard.last_pass - since >= limits[tag]:
                assert tag in guard.alarmed, f"{tag} unconfirmed for {guard.last_pass - since:.1f} s, no alarm"

    @invariant()
    def above_target_plus_tolerance_means_held_with_an_alarm(self) -> None:
        for phase in self.phases:
            if phase.delivered_exact() > phase._limit_q:
                overdose = [
                    r
                    for r in self.recorder.reports
                    if r.phase_ref == phase.phase_ref and r.trip is not None and r.trip.kind is TripKind.OVERDOSE
                ]
                assert overdose, f"{phase.phase_ref} delivered {phase.actual()} > limit without an alarm"
                assert overdose[0].state is PhaseStatus.HELD

    @invariant()
    def every_held_has_its_reason_and_no_actual_is_negative(self) -> None:
        for report in self.recorder.reports:
            if report.state is PhaseStatus.HELD:
                assert report.reason.strip()
            if report.actual is not None:
                assert report.actual >= 0, report

    def teardown(self) -> None:
        async def close() -> None:
            for phase in list(self.runtime.phases.values()):
                await phase.close()
            pending = [t for t in self.runtime._tasks if not t.done()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            await self.runtime.io.close()

        self.run(close())
        self.loop.close()
