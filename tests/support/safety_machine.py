"""The state machine of issue 15: random commands and plant faults against the runtime's safety core.

The real :class:`EquipmentRuntime` (its command handling, phases, output guard and idle
watch) runs against the in-process plant model of ``tests/support/plantmodel.py``; only
its recorder is an in-memory list (the database is not what is being proven here).
Hypothesis drives start, hold, restart, stop, abort, link cut, link restore, device
restart with totalizer reset, stuck valve and slow feedback; after every step:

- an open valve (commanded or by its feedback) has a running owner, or the output guard
  is driving it closed (and alarms once it has not been confirmed within its limit);
- after a guard pass with the link up, every output no running phase owns is commanded
  to its safe state on the device;
- no output stays unconfirmed beyond its limit without an alarm;
- a delivered amount above target + tolerance was alarmed and held at that moment (the
  phase is not RUNNING, its first overdose report is HELD);
- where the plant tells what its meter showed (the model: ``meter_listeners``), the phase's
  delivered amount is exactly the sum of the increments the meter showed while the phase
  was active (a meter going back adds nothing), and every going back was alarmed as a
  totalizer discontinuity;
- every HELD carries its reason; no recorded actual is negative.

:class:`ModelFaultMachine` adds the faults that make overdoses happen on the model (a pump
that sticks on, a flow surge, a meter that lags or jumps, the local panel); the start is
biased towards small targets, so a fault often meets a dosing near its end.

Subclasses point it at another plant (``tests/integration/equipment/test_safety_stateful_real.py``:
node-opcua through the fault proxy) by overriding ``_build``, ``_subscribe`` and ``_advance``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from audit.trail import AuditTrail
from ebr.core.clock import SystemClock, utc_now
from ebr.core.errors import EquipmentError
from equipment.commands import CommandKind, PhaseStatus
from equipment.config import PlantConfig
from equipment.dosing import DosingPhase, PhaseReport
from equipment.drivers.plantio import PlantIO
from equipment.interlocks import Trip, TripKind
from equipment.recorder import CommandData
from equipment.runtime import EquipmentRuntime
from tests.support.plantmodel import ModelPlant, model_config

VALVE = "R-101.inlet_valve"
PUMP = "R-101.pump"
#: Small targets (a fault meets the end of a dosing) as often as ordinary ones.
AMOUNTS = st.one_of(
    st.decimals(min_value=Decimal("0.5"), max_value=Decimal(6), places=1).map(str), st.integers(5, 40).map(str)
)
TOLERANCES = st.sampled_from(["0.2", "0.2", "0.5", "1", "2"])


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
        # The oracle: what the meter showed each phase while it was active (model plants only).
        self.meter_shown: dict[str, Decimal] = defaultdict(Decimal)
        self.meter_went_back: Counter[str] = Counter()
        listeners = getattr(self.plant, "meter_listeners", None)
        self.oracle = listeners is not None
        if listeners is not None:
            listeners.append(self._on_meter)
        # Outputs that the last guard pass found unowned with their endpoint up: commanded safe now.
        self.expect_safe: set[str] = set()

    def _on_meter(self, increment: Decimal, went_back: bool) -> None:
        for phase in self.phases:
            if not phase.state.final:
                self.meter_shown[phase.phase_ref] += increment
                self.meter_went_back[phase.phase_ref] += went_back

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
        for _ in range(3):
            # The runtime wakes its guard whenever a phase holds or ends: here, reconcile again
            # when a pass let a phase end (its stop settled while the alarm tasks ran).
            owned = self.runtime.owned_outputs()
            await self.runtime.guard.reconcile()
            up = self.plant.link_up and self.runtime.io.connected.get("plant", False)
            self.expect_safe = {VALVE, PUMP} - owned if up else set()
            await asyncio.sleep(0.001)  # the alarm tasks run in worker threads
            await self._drain()
            if self.runtime.owned_outputs() == owned:
                break

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

    @rule(amount=AMOUNTS, tolerance=TOLERANCES, then=st.integers(0, 60))
    def start(self, amount: str | int, tolerance: str, then: int = 0) -> None:
        """Start a dosing, then let ``then`` plant steps pass (a dosing that runs meets its faults)."""
        if any(p.cfg.unit == "R-101" for p in self.runtime.phases.values()):
            return
        self.counter += 1
        self.current = f"P{self.counter}"
        params = {"source": "T-100", "target": str(amount), "tolerance": tolerance, "unit": "L"}
        self.run(self._command(CommandKind.START_DOSING, **params))
        phase = self.runtime.phases.get(self.current)
        if isinstance(phase, DosingPhase):
            self.phases.append(phase)
        self.run(self._settle(then))

    def _active(self) -> bool:
        return self.current is not None and self.current in self.runtime.phases

    @precondition(lambda self: self._active())
    @rule(kind=st.sampled_from([CommandKind.HOLD, CommandKind.RESTART, CommandKind.STOP, CommandKind.ABORT]))
    def command(self, kind: CommandKind) -> None:
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
    def unowned_outputs_are_commanded_safe_after_a_guard_pass(self) -> None:
        commanded = {VALVE: self.plant.valve_cmd, PUMP: getattr(self.plant, "pump_cmd", False)}
        for tag in sorted(self.expect_safe):
            assert not commanded[tag], f"{tag} still commanded on after a guard pass, no running phase owns it"

    @invariant()
    def no_output_stays_unconfirmed_past_its_limit_without_an_alarm(self) -> None:
        guard = self.runtime.guard
        limits = {o.tag: o.confirm_s for o in guard.outputs}
        for tag, since in guard.unconfirmed_since.items():
            if guard.last_pass - since >= limits[tag]:
                assert tag in guard.alarmed, f"{tag} unconfirmed for {guard.last_pass - since:.1f} s, no alarm"

    def _trips(self, phase: DosingPhase, kind: TripKind) -> list[PhaseReport]:
        return [
            r
            for r in self.recorder.reports
            if r.phase_ref == phase.phase_ref and r.trip is not None and r.trip.kind is kind
        ]

    @invariant()
    def above_target_plus_tolerance_means_held_with_an_alarm(self) -> None:
        for phase in self.phases:
            delivered = self.meter_shown[phase.phase_ref] if self.oracle else phase.delivered_exact()
            if delivered > phase._limit_q:
                overdose = self._trips(phase, TripKind.OVERDOSE)
                assert overdose, f"{phase.phase_ref} delivered {delivered} > limit without an overdose alarm"
                assert overdose[0].state is PhaseStatus.HELD
                assert phase.state is not PhaseStatus.RUNNING, f"{phase.phase_ref} runs on at {delivered}"

    @invariant()
    def the_delivered_amount_is_what_the_meter_showed(self) -> None:
        if not self.oracle:
            return
        for phase in self.phases:
            shown = self.meter_shown[phase.phase_ref]
            assert phase.delivered_exact() == shown, (
                f"{phase.phase_ref} counts {phase.delivered_exact()} delivered but the meter showed {shown}"
            )
            if self.meter_went_back[phase.phase_ref]:
                assert self._trips(phase, TripKind.TOTALIZER_DISCONTINUITY), (
                    f"{phase.phase_ref}: the meter went back without a totalizer discontinuity alarm"
                )

    @invariant()
    def every_held_has_its_reason_and_no_actual_is_negative(self) -> None:
        for report in self.recorder.reports:
            if report.state is PhaseStatus.HELD:
                assert report.reason.strip()
            if report.actual is not None:
                assert report.actual >= 0, f"negative actual {report.actual}: {report}"

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


class ModelFaultMachine(SafetyMachine):
    """The machine with the model's further faults: the ones that push a dosing past its limit."""

    @initialize(
        surge=st.sampled_from([1.0, 1.0, 2.0, 2.5]),
        pump_stuck=st.booleans(),
        meter_every=st.sampled_from([1, 3, 7, 10, 10]),
    )
    def plant_conditions(self, surge: float, pump_stuck: bool, meter_every: int) -> None:
        """How this plant starts out: its flow, its pump's contactor, how often its meter publishes."""
        self.plant.surge, self.plant.pump_stuck, self.plant.meter_every = surge, pump_stuck, meter_every

    @rule(stuck=st.booleans())
    def pump_sticks_on(self, stuck: bool) -> None:
        self.plant.pump_stuck = stuck

    @rule(factor=st.sampled_from([1.0, 2.0, 2.5]))
    def flow_surge(self, factor: float) -> None:
        self.plant.surge = factor  # 10 L/s at most: the top of the meter's range

    @rule(steps=st.integers(2, 20))
    def meter_lags(self, steps: int) -> None:
        """A slow link or a slow meter: the totalizer comes ``steps`` late, then all at once."""
        self.plant.meter_hold = steps

    @precondition(lambda self: self._active())
    @rule(steps=st.integers(1, 10))
    def device_restart_mid_dose(self, steps: int) -> None:
        """The PLC restarts while a phase is active, after some product went in (totalizer back to 0)."""
        self.run(self._settle(steps))
        self.device_restart_with_totalizer_reset()

    async def _plant_acts(self, act: Any) -> None:
        """A plant change inside the loop: its notifications run the runtime's callbacks there."""
        act()
        await self._settle(0)

    @rule(litres=st.sampled_from([0.3, 1.5, 12.0]))
    def meter_jumps(self, litres: float) -> None:
        self.run(self._plant_acts(lambda: self.plant.jump_meter(litres)))

    @rule(pump=st.booleans())
    def local_panel_opens_the_valve(self, pump: bool) -> None:
        self.run(self._plant_acts(lambda: self.plant.panel(valve=True, pump=pump)))
