"""Physics of the simulated plant, stepped at ≥ 10 Hz; pure Python, floats inside.

T-100 feeds the jacketed reactor R-101 through the transfer pump and the inlet
valve; the flow meter's totalizer counts what went in. The valve travels in
``valve_travel_s``; its "open" limit switch is the feedback. Faults: a stuck valve
(its position and feedback stop following the command), a frozen level sensor
(the published level stops changing), a leak (R-101 loses level). The scale SC-01
holds what the user put on it and reports "stable" once the weight settled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NOMINAL_FLOW_LPM = 1500.0  # L/min at 100 % pump speed, valve fully open


@dataclass
class Faults:
    valve_stuck: bool = False
    sensor_frozen: bool = False
    leak_lps: float = 0.0  # L/s lost from R-101
    sensor_bad: bool = False  # the level transmitter reports BadSensorFailure


class PhaseState:
    """ISA-88 state codes the simulated PLC reports (as equipment.pli expects)."""

    IDLE, RUNNING, COMPLETE, HOLDING, HELD, RESTARTING, STOPPING, STOPPED, ABORTING, ABORTED = range(1, 11)


@dataclass
class HeatPhase:
    """The PLC's HEAT phase on R-101: heat to a setpoint; refuses a start without the agitator."""

    command: int = 0
    state: int = PhaseState.IDLE
    refusal: int = 0  # 0 none, 1 agitator not running, 2 illegal command in this state
    setpoint: float = 20.0
    watchdog_in: int = 0
    watchdog_out: int = 0
    watchdog_frozen: bool = False

    def step(self, plant: Plant) -> None:
        if not self.watchdog_frozen:
            self.watchdog_out = self.watchdog_in
        if self.command:
            self._accept(self.command, plant)
            self.command = 0  # handshake: the PLC clears the command it took
        if self.state == PhaseState.RUNNING:
            plant.jacket_setpoint = self.setpoint
            if abs(plant.temperature - self.setpoint) < 0.2:
                self.state = PhaseState.COMPLETE

    def _accept(self, command: int, plant: Plant) -> None:
        s = PhaseState
        moves = {
            (1, s.IDLE): s.RUNNING,
            (2, s.RUNNING): s.HELD,
            (3, s.HELD): s.RUNNING,
            (4, s.RUNNING): s.STOPPED,
            (4, s.HELD): s.STOPPED,
            (5, s.RUNNING): s.ABORTED,
            (5, s.HELD): s.ABORTED,
            (6, s.COMPLETE): s.IDLE,
            (6, s.STOPPED): s.IDLE,
            (6, s.ABORTED): s.IDLE,
        }
        if command == 1 and self.state == s.IDLE and not plant.agitator_running:
            self.refusal = 1
            return
        if (command, self.state) not in moves:
            self.refusal = 2
            return
        self.refusal = 0
        self.state = moves[(command, self.state)]
        if self.state in (s.HELD, s.STOPPED, s.ABORTED):
            plant.jacket_setpoint = plant.temperature


@dataclass
class Plant:
    """The plant's true state. Commands are set by the OPC UA server on client writes."""

    t100_level: float = 3000.0
    r101_level: float = 100.0
    temperature: float = 20.0
    jacket_setpoint: float = 20.0
    agitator: bool = False
    agitator_running: bool = False
    inlet_valve: bool = False
    valve_position: float = 0.0
    pump: bool = False
    pump_running: bool = False
    pump_speed: float = 100.0
    flow_lpm: float = 0.0
    totalizer: float = 0.0
    filter_dp: float = 0.2
    fill_running: bool = False
    fill_count: int = 0
    scale_kg: float = 0.0
    scale_settle_s: float = 0.0
    valve_travel_s: float = 0.2
    nominal_flow_lpm: float = NOMINAL_FLOW_LPM
    frozen_level: float | None = None
    faults: Faults = field(default_factory=Faults)
    heat: HeatPhase = field(default_factory=HeatPhase)
    _fill_timer: float = 0.0

    def step(self, dt: float) -> None:
        """Advance the plant by ``dt`` seconds."""
        self._move_valve(dt)
        self.pump_running = self.pump
        self.agitator_running = self.agitator
        self._transfer(dt)
        ramp = (1.0 if self.agitator_running else 0.2) * dt  # °C per step the jacket can move the batch
        self.temperature += max(-ramp, min(ramp, self.jacket_setpoint - self.temperature))
        self.heat.step(self)
        self.filter_dp = 0.2 + 0.8 * self.flow_lpm / self.nominal_flow_lpm
        self._fill(dt)
        self.scale_settle_s = max(0.0, self.scale_settle_s - dt)

    def _move_valve(self, dt: float) -> None:
        if self.faults.valve_stuck:
            return
        target = 1.0 if self.inlet_valve else 0.0
        travel = dt / self.valve_travel_s if self.valve_travel_s > 0 else 1.0
        if self.valve_position < target:
            self.valve_position = min(target, self.valve_position + travel)
        else:
            self.valve_position = max(target, self.valve_position - travel)

    def _transfer(self, dt: float) -> None:
        flowing = self.pump_running and self.t100_level > 0
        self.flow_lpm = self.nominal_flow_lpm * self.pump_speed / 100 * self.valve_position if flowing else 0.0
        litres = min(self.flow_lpm / 60 * dt, self.t100_level)
        self.t100_level -= litres
        self.r101_level += litres
        self.totalizer += litres
        self.r101_level = max(0.0, self.r101_level - self.faults.leak_lps * dt)

    def _fill(self, dt: float) -> None:
        if not self.fill_running:
            return
        self._fill_timer += dt
        if self._fill_timer >= 2.0:
            self._fill_timer = 0.0
            self.fill_count += 1

    @property
    def valve_open(self) -> bool:
        """The "open" limit switch."""
        return self.valve_position >= 0.95

    @property
    def level_reading(self) -> float:
        """What the level transmitter reports (frozen while the sensor fault is on)."""
        if self.faults.sensor_frozen:
            if self.frozen_level is None:
                self.frozen_level = self.r101_level
            return self.frozen_level
        self.frozen_level = None
        return self.r101_level

    def place_weight(self, kg: float) -> None:
        """Put ``kg`` on the scale (0 removes everything); unstable for half a second."""
        if kg < 0:
            raise ValueError("a weight cannot be negative")
        self.scale_kg = kg
        self.scale_settle_s = 0.5

    @property
    def scale_stable(self) -> bool:
        return self.scale_settle_s <= 0

    def outputs(self) -> dict[str, Any]:
        """Every published tag and its value."""
        return {
            "T-100.level": round(self.t100_level, 4),
            "R-101.level": round(self.level_reading, 4),
            "R-101.temperature": round(self.temperature, 3),
            "R-101.jacket_setpoint": self.jacket_setpoint,
            "R-101.agitator": self.agitator,
            "R-101.agitator_running": self.agitator_running,
            "R-101.inlet_valve": self.inlet_valve,
            "R-101.inlet_valve_open": self.valve_open,
            "R-101.pump": self.pump,
            "R-101.pump_running": self.pump_running,
            "R-101.pump_speed": self.pump_speed,
            "R-101.flow": round(self.flow_lpm, 3),
            "R-101.totalizer": round(self.totalizer, 4),
            "F-101.dp": round(self.filter_dp, 4),
            "FS-01.running": self.fill_running,
            "FS-01.count": self.fill_count,
            "R-101.heat_command": self.heat.command,
            "R-101.heat_state": self.heat.state,
            "R-101.heat_refusal": self.heat.refusal,
            "R-101.heat_sp_temperature": self.heat.setpoint,
            "R-101.heat_watchdog_in": self.heat.watchdog_in,
            "R-101.heat_watchdog_out": self.heat.watchdog_out,
        }

    def command(self, tag: str, value: Any) -> bool:
        """A client wrote ``value`` to ``tag``; False when the tag takes no command."""
        setters = {
            "R-101.inlet_valve": ("inlet_valve", bool),
            "R-101.pump": ("pump", bool),
            "R-101.agitator": ("agitator", bool),
            "R-101.pump_speed": ("pump_speed", float),
            "R-101.jacket_setpoint": ("jacket_setpoint", float),
            "FS-01.running": ("fill_running", bool),
        }
        heat = {
            "R-101.heat_command": "command",
            "R-101.heat_sp_temperature": "setpoint",
            "R-101.heat_watchdog_in": "watchdog_in",
        }
        if tag in heat:
            setattr(self.heat, heat[tag], float(value) if tag.endswith("temperature") else int(value))
            return True
        if tag not in setters:
            return False
        name, kind = setters[tag]
        setattr(self, name, kind(value))
        if tag == "R-101.pump" and not value:
            self.pump_running = False  # a stopped pump stops the flow at once
            self.flow_lpm = 0.0
        return True

    def set_state(self, values: dict[str, Any]) -> None:
        """Set true plant values (tests and training): ``R-101.level``, ``T-100.level``, …"""
        names = {
            "R-101.level": "r101_level",
            "T-100.level": "t100_level",
            "R-101.temperature": "temperature",
            "R-101.totalizer": "totalizer",
            "valve_travel_s": "valve_travel_s",
            "nominal_flow_lpm": "nominal_flow_lpm",
        }
        for key, value in values.items():
            if key in names:
                setattr(self, names[key], float(value))
            elif not self.command(key, value):
                raise ValueError(f"unknown simulator value {key!r}; known: {', '.join([*names, 'R-101.pump', '…'])}")
