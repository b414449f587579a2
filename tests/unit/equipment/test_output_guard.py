"""The output guard, the stale-data refusal and the readings write, on the in-process plant model."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import pytest

from audit.trail import AuditTrail
from ebr.core.clock import SystemClock
from equipment.dosing import DosingPhase
from equipment.drivers.base import TagValue
from equipment.drivers.plantio import PlantIO
from equipment.drivers.simulated import SimulatedDriver
from equipment.errors import PermissiveFailed
from equipment.interlocks import Trip, TripKind
from equipment.runtime import EquipmentRuntime
from equipment.safety import OutputGuard, SafeOutput, safe_outputs
from tests.support.plantmodel import ModelPlant, model_config

VALVE = "R-101.inlet_valve"


def guard_for(plant: ModelPlant, alarms: list[tuple[str, Trip]], notes: list[str]) -> OutputGuard:
    outputs = [
        SafeOutput(o.tag, o.unit, o.safe, o.feedback, 0.05)
        for o in safe_outputs(model_config(), default_confirm_s=0.05)
    ]
    return OutputGuard(
        io=plant.io(),
        outputs=outputs,
        owned=set,
        alarm=lambda unit, trip: alarms.append((unit, trip)),
        note=lambda unit, message: notes.append(message),
    )


@pytest.mark.requirement("URS-EQP-011")
def test_a_valve_left_open_during_a_cut_is_alarmed_then_closed_and_confirmed_when_the_link_returns() -> None:
    async def scenario() -> tuple[ModelPlant, list[tuple[str, Trip]], list[str], OutputGuard]:
        plant = ModelPlant()
        alarms: list[tuple[str, Trip]] = []
        notes: list[str] = []
        guard = guard_for(plant, alarms, notes)
        await guard.io.subscribe(list(plant.values()))
        await guard.io.connect()
        plant.valve_cmd = plant.pump_cmd = True  # left open by a stop whose writes failed
        plant.step(0.05)
        await plant.cut()
        assert (await guard.reconcile())[VALVE] is False
        await asyncio.sleep(0.06)
        await guard.reconcile()  # still unconfirmed after confirm_s: one alarm
        await guard.reconcile()
        await plant.restore()
        await guard.reconcile()  # writes closed
        plant.step(0.05)  # the valve follows
        confirmed = await guard.reconcile()
        assert confirmed[VALVE] is True
        return plant, alarms, notes, guard

    plant, alarms, notes, guard = asyncio.run(scenario())
    assert plant.valve_cmd is False
    assert plant.valve_open is False
    assert plant.pump_cmd is False
    valve_alarms = [t for _, t in alarms if t.tag == VALVE]
    assert len(valve_alarms) == 1
    assert valve_alarms[0].kind is TripKind.OUTPUT_NOT_SAFE
    assert "endpoint plant is down" in valve_alarms[0].message
    assert f"{VALVE} confirmed closed/off again" in notes
    assert guard.unconfirmed_since == {}


@pytest.mark.requirement("URS-EQP-011")
def test_a_stuck_valve_is_written_again_until_its_feedback_confirms_it() -> None:
    async def scenario() -> tuple[ModelPlant, list[tuple[str, Trip]], int]:
        plant = ModelPlant()
        alarms: list[tuple[str, Trip]] = []
        guard = guard_for(plant, alarms, [])
        await guard.io.subscribe(list(plant.values()))
        await guard.io.connect()
        plant.valve_cmd = True
        plant.step(0.05)
        plant.valve_stuck = True
        writes_before = len(plant.driver.writes)
        for _ in range(3):
            await guard.reconcile()
            plant.step(0.05)
            await asyncio.sleep(0.03)
        plant.valve_stuck = False
        plant.step(0.05)
        assert (await guard.reconcile())[VALVE] is True
        return plant, alarms, len(plant.driver.writes) - writes_before

    plant, alarms, writes = asyncio.run(scenario())
    assert writes >= 3, "retried on every pass while unconfirmed"
    assert [t.kind for _, t in alarms if t.tag == VALVE] == [TripKind.OUTPUT_NOT_SAFE]
    assert "R-101.inlet_valve_open shows True" in next(t.message for _, t in alarms if t.tag == VALVE)
    assert plant.valve_open is False


class SilentDriver(SimulatedDriver):
    """Connected, but its endpoint last answered at ``silent_since`` (a link that went quiet)."""

    silent_since = 0.0

    @property
    def last_alive(self) -> float:
        return self.silent_since


@pytest.mark.requirement("URS-EQP-014")
def test_dosing_refuses_to_start_on_values_its_endpoint_has_not_confirmed_within_the_age_limit() -> None:
    async def scenario() -> SilentDriver:
        plant = ModelPlant()
        driver = SilentDriver("plant", plant.values())
        io = PlantIO({"plant": driver}, dict.fromkeys(plant.values(), "plant"))
        await io.subscribe(list(plant.values()))
        await io.connect()
        ten_seconds_ago = time.monotonic() - 10
        driver.silent_since = ten_seconds_ago
        for tag, item in list(io.latest.items()):  # published long ago, steady since
            io.latest[tag] = TagValue(tag, item.value, item.quality, received=ten_seconds_ago)
        assert io.age("R-101.level") == pytest.approx(10, abs=0.5)
        phase = DosingPhase(
            io=io,
            cfg=model_config(max_data_age_ms=2000).dosing["R-101"],
            phase_ref="S1",
            source="T-100",
            target=Decimal(10),
            tolerance=Decimal(1),
            quantity_unit="L",
            requires_agitator=False,
            report=lambda r: None,
        )
        with pytest.raises(PermissiveFailed, match=r"R-101.level is not current \(10.0 s since its endpoint"):
            await phase.start()
        driver.silent_since = time.monotonic()  # the endpoint answers again: the same values are current
        assert io.age("R-101.level") < 0.5
        return driver

    assert asyncio.run(scenario()).writes == []


class FlakyRecorder:
    """Its readings write fails ``failures`` times, then succeeds."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.written: list[dict[str, Any]] = []

    def readings(self, items: list[TagValue], units: dict[str, str], decimals: dict[str, int]) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError("database is away")
        self.written.append({item.tag: item.value for item in items})

    def trend(self, points: list[Any]) -> None: ...


@pytest.mark.requirement("URS-EQP-014")
def test_a_failed_readings_write_loses_no_value_and_leaves_no_stale_one() -> None:
    async def scenario() -> tuple[FlakyRecorder, EquipmentRuntime]:
        plant = ModelPlant()
        runtime = EquipmentRuntime(
            config=model_config(),
            factory=None,  # type: ignore[arg-type]  # the recorder below opens no session
            audit=AuditTrail(),
            clock=SystemClock(),
            io=plant.io(),
            readings_s=0.01,
        )
        recorder = FlakyRecorder(failures=2)
        runtime.recorder = recorder  # type: ignore[assignment]
        await runtime.io.subscribe(list(plant.values()), runtime._on_value)
        await runtime.io.connect()
        plant.valve_cmd = plant.pump_cmd = True
        loop = asyncio.create_task(runtime._readings_loop())
        for _ in range(4):
            plant.step(0.5)  # the level changes while the database is away
            await asyncio.sleep(0.005)
        deadline = time.monotonic() + 3
        while (not recorder.written or runtime._dirty) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        loop.cancel()
        return recorder, runtime

    recorder, runtime = asyncio.run(scenario())
    assert runtime.counters["readings write failures"] == 2
    merged: dict[str, Any] = {}
    for batch in recorder.written:
        merged |= batch
    assert set(merged) >= {"R-101.level", "R-101.totalizer", "R-101.inlet_valve"}
    assert merged["R-101.level"] == runtime.io.latest["R-101.level"].value, "the last value written is the current one"


@pytest.mark.requirement("URS-EQP-003")
def test_a_trip_while_the_start_writes_are_under_way_leaves_the_valve_and_pump_closed() -> None:
    """The high-high arrives while the valve-open write is answered: the start must not go on to the pump."""

    async def scenario() -> tuple[ModelPlant, DosingPhase]:
        plant = ModelPlant()
        io = plant.io()
        await io.subscribe(list(plant.values()))
        await io.connect()
        cfg = model_config().dosing["R-101"]
        phase = DosingPhase(
            io=io,
            cfg=cfg,
            phase_ref="R1",
            source="T-100",
            target=Decimal(10),
            tolerance=Decimal(1),
            quantity_unit="L",
            requires_agitator=False,
            report=lambda r: None,
        )
        written = plant.driver.write

        async def slow_write(tag: str, value: Any) -> None:
            await written(tag, value)  # the request reached the plant; its answer is slow
            if tag == cfg.inlet_valve and value:
                phase.trip_now(Trip(TripKind.HIGH_HIGH, "level reached high-high"))  # arrives meanwhile
                await asyncio.sleep(0.01)

        plant.driver.write = slow_write  # type: ignore[method-assign]
        await phase.start()
        await asyncio.sleep(0.05)
        plant.step(0.05)
        return plant, phase

    plant, phase = asyncio.run(scenario())
    assert phase.state.value == "held"
    assert plant.pump_cmd is False, "the pump was not started after the trip"
    assert plant.valve_cmd is False
