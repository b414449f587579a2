"""A fast in-process dosing plant for stateful tests: stepped physics behind a SimulatedDriver.

R-101 is fed from T-100 through an inlet valve (its "open" feedback follows after
``feedback_delay`` steps, or never while stuck) and a pump; the flow meter's totalizer
counts what went in. Faults: a link cut (no notifications, writes fail), a link restore
(current values sent again, as a new subscription does), a device restart (totalizer
back to 0, outputs off), a stuck valve, slow feedback (the valve opens and closes late),
a pump whose contactor sticks on, a flow surge, a meter that lags (publishes late, then
catches up) or jumps, and someone at the local panel opening the valve. Time is the
test's: ``step(dt)``.

What the runtime *could* know of the delivered amount is what the meter showed it: every
published totalizer value goes to ``meter_listeners`` as (increment, went back), the
increment being exact decimals of the published values and 0 when the meter went back.
The stateful test sums them per phase as its oracle of the delivered amount.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from equipment.config import PlantConfig, parse_plant_config
from equipment.drivers.base import Value
from equipment.drivers.plantio import PlantIO
from equipment.drivers.simulated import SimulatedDriver

NOMINAL_LPS = 4.0
MeterListener = Callable[[Decimal, bool], None]


def model_config(**dosing: Any) -> PlantConfig:
    """R-101 and T-100 on one endpoint; flow in L/s, level and totalizer in L."""

    tags = {
        "level": {"endpoint": "plant", "node": "ns=2;s=level", "unit": "L", "range": [0, 2000]},
        "inlet_valve": {"endpoint": "plant", "node": "ns=2;s=valve", "type": "bool", "writable": True},
        "inlet_valve_open": {"endpoint": "plant", "node": "ns=2;s=valve_open", "type": "bool"},
        "pump": {"endpoint": "plant", "node": "ns=2;s=pump", "type": "bool", "writable": True},
        "pump_running": {"endpoint": "plant", "node": "ns=2;s=pump_running", "type": "bool"},
        "flow": {"endpoint": "plant", "node": "ns=2;s=flow", "unit": "L/s", "range": [0, 10]},
        "totalizer": {"endpoint": "plant", "node": "ns=2;s=total", "unit": "L"},
    }
    return parse_plant_config(
        {
            "version": 1,
            "endpoints": {"plant": {"type": "opcua", "url": "opc.tcp://127.0.0.1:1/model"}},
            "equipment": {
                "T-100": {"kind": "tank", "tags": {"level": {"endpoint": "plant", "node": "ns=2;s=src", "unit": "L"}}},
                "R-101": {"kind": "unit", "tags": tags},
            },
            "dosing": {
                "R-101": {
                    "level": "R-101.level",
                    "totalizer": "R-101.totalizer",
                    "flow": "R-101.flow",
                    "inlet_valve": "R-101.inlet_valve",
                    "inlet_valve_feedback": "R-101.inlet_valve_open",
                    "pump": "R-101.pump",
                    "pump_feedback": "R-101.pump_running",
                    "source_levels": {"T-100": "T-100.level"},
                    "level_permissive_max": 1600,
                    "level_high_high": 1800,
                    "valve_follow_ms": 60_000,  # time-based trips are not what this model drives
                    "stale_ms": 60_000,
                    "max_data_age_ms": 60_000,
                    "flow_without_command": 0.05,
                }
                | dosing
            },
        }
    )


class ModelPlant:
    """The plant's true state; ``driver`` is how the runtime sees it."""

    def __init__(self) -> None:
        self.level = 100.0
        self.source = 3000.0
        self.total = 0.0
        self.valve_cmd = self.pump_cmd = False
        self.valve_open = self.pump_running = False
        self.valve_stuck = False
        self.feedback_delay = 0
        self._pending = 0
        self.link_up = True
        self.restarts = 0
        self.pump_stuck = False
        self.surge = 1.0
        self.meter_hold = 0
        self.meter_every = 1
        self._steps = 0
        self.meter_listeners: list[MeterListener] = []
        self._published_total = Decimal("0.0")
        self.driver = SimulatedDriver("plant", self.values(), on_write=self._on_write)

    def io(self) -> PlantIO:
        return PlantIO({"plant": self.driver}, dict.fromkeys(self.values(), "plant"))

    def values(self) -> dict[str, Value]:
        flowing = self.flow()
        return {
            "R-101.level": round(self.level, 4),
            "T-100.level": round(self.source, 4),
            "R-101.inlet_valve": self.valve_cmd,
            "R-101.inlet_valve_open": self.valve_open,
            "R-101.pump": self.pump_cmd,
            "R-101.pump_running": self.pump_running,
            "R-101.flow": round(flowing, 4),
            "R-101.totalizer": round(self.total, 4),
        }

    def flow(self) -> float:
        return NOMINAL_LPS * self.surge if self.valve_open and self.pump_running and self.source > 0 else 0.0

    def _on_write(self, driver: SimulatedDriver, tag: str, value: Value) -> None:
        if tag == "R-101.inlet_valve":
            self.valve_cmd = bool(value)
            self._pending = self.feedback_delay
        elif tag == "R-101.pump":
            self.pump_cmd = bool(value)

    def step(self, dt: float) -> None:
        """Advance ``dt`` seconds and publish what changed (nothing reaches the runtime while cut)."""
        if not self.valve_stuck:
            if self._pending > 0:
                self._pending -= 1
            else:
                self.valve_open = self.valve_cmd
        self.pump_running = self.pump_cmd or self.pump_stuck
        if self.meter_hold > 0:
            self.meter_hold -= 1
        self._steps += 1
        litres = min(self.flow() * dt, self.source)
        self.source -= litres
        self.level += litres
        self.total += litres
        self.publish()

    def publish(self, *, everything: bool = False, meter_now: bool = False) -> None:
        if not self.link_up:
            return
        for tag, value in self.values().items():
            late = self.meter_hold > 0 or self._steps % self.meter_every
            if tag == "R-101.totalizer" and late and not (everything or meter_now):
                continue  # the meter lags or updates slowly: its value comes later, all at once
            if everything or self.driver.value(tag) != value:
                if tag == "R-101.totalizer":
                    self._meter_published(value)
                self.driver.set(tag, value)

    def _meter_published(self, value: Value) -> None:
        new = Decimal(repr(float(value)))
        went_back = new < self._published_total
        increment = Decimal(0) if went_back else new - self._published_total
        self._published_total = new
        for listener in list(self.meter_listeners):
            listener(increment, went_back)

    def jump_meter(self, litres: float) -> None:
        """The meter's count jumps (a glitch, a pulse burst) without product going in."""
        self.total += litres
        self.publish(meter_now=True)

    def panel(self, *, valve: bool, pump: bool) -> None:
        """Someone at the local panel commands the valve (and the pump): no write of ours."""
        self.valve_cmd, self._pending = valve, self.feedback_delay
        self.pump_cmd = pump
        self.publish()

    async def cut(self) -> None:
        if self.link_up:
            self.link_up = False
            self.driver.drop_connection("link cut")

    async def restore(self) -> None:
        if not self.link_up:
            self.link_up = True
            await self.driver.connect()
            self.publish(everything=True)

    async def restart_device(self) -> None:
        """The PLC restarts: link lost, outputs off, totalizer from 0; then it is back."""
        await self.cut()
        self.restarts += 1
        self.total = 0.0
        self.valve_cmd = self.pump_cmd = False
        self.valve_open = False
        self.pump_running = self.pump_stuck  # a welded contactor survives a PLC restart
        self.meter_hold = 0
        await self.restore()
