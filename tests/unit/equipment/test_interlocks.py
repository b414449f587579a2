"""Interlock rules and the dosing phase on the in-memory SimulatedDriver (no database, no sockets)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from equipment.commands import PhaseStatus
from equipment.config import load_plant_config
from equipment.dosing import DosingPhase, PhaseReport
from equipment.drivers.base import Quality, TagValue, Value
from equipment.drivers.plantio import PlantIO
from equipment.drivers.simulated import SimulatedDriver
from equipment.errors import PermissiveFailed
from equipment.interlocks import TimerInputs, TripKind, check_permissives, trip_on_time, trip_on_value

EXAMPLE = Path(__file__).resolve().parents[3] / "equipment" / "examples" / "plant.yaml"
CONFIG = load_plant_config(EXAMPLE)
CFG = CONFIG.dosing["R-101"]
IDLE: dict[str, Value] = {
    "R-101.level": 100.0,
    "T-100.level": 3000.0,
    "R-101.inlet_valve": False,
    "R-101.inlet_valve_open": False,
    "R-101.pump": False,
    "R-101.pump_running": False,
    "R-101.pump_speed": 100.0,
    "R-101.flow": 0.0,
    "R-101.totalizer": 40.0,
    "R-101.agitator_running": False,
}


def values(**changes: Value) -> dict[str, TagValue]:
    merged = IDLE | {k.replace("__", "."): v for k, v in changes.items()}
    return {tag: TagValue(tag, value, Quality.GOOD) for tag, value in merged.items()}


def test_permissives_hold_for_an_idle_reactor_with_a_full_source() -> None:
    assert check_permissives(CFG, values(), source="T-100", quantity=250, requires_agitator=False) == []


@pytest.mark.requirement("URS-EQP-003")
def test_each_failed_permissive_is_named() -> None:
    problems = check_permissives(
        CFG,
        values(**{"R-101__level": 1650.0, "T-100__level": 100.0, "R-101__inlet_valve_open": True}),
        source="T-100",
        quantity=250,
        requires_agitator=True,
    )
    text = " | ".join(problems)
    assert "not below its start limit" in text
    assert "not enough" in text
    assert "R-101.inlet_valve_open is open" in text
    assert "agitator" in text


@pytest.mark.requirement("URS-EQP-003")
def test_trips_on_high_high_bad_quality_and_flow_without_command() -> None:
    high = TagValue("R-101.level", 1800.0, Quality.GOOD)
    assert trip_on_value(CFG, high, pump_commanded=True).kind is TripKind.HIGH_HIGH  # type: ignore[union-attr]
    bad = TagValue("R-101.totalizer", None, Quality.BAD, "BadSensorFailure")
    assert trip_on_value(CFG, bad, pump_commanded=True).kind is TripKind.BAD_QUALITY  # type: ignore[union-attr]
    flow = TagValue("R-101.flow", 50.0, Quality.GOOD)
    assert trip_on_value(CFG, flow, pump_commanded=False).kind is TripKind.FLOW_WITHOUT_COMMAND  # type: ignore[union-attr]
    assert trip_on_value(CFG, flow, pump_commanded=True) is None


def test_timer_trips_for_a_valve_that_lags_and_a_level_that_froze() -> None:
    lagging = TimerInputs(
        now=10.0,
        valve_commanded=True,
        valve_commanded_at=8.0,
        valve_feedback=False,
        flowing_since=None,
        level_changed_at=10.0,
    )
    assert trip_on_time(CFG, lagging).kind is TripKind.VALVE_NOT_FOLLOWING  # type: ignore[union-attr]
    frozen = TimerInputs(
        now=10.0,
        valve_commanded=True,
        valve_commanded_at=1.0,
        valve_feedback=True,
        flowing_since=2.0,
        level_changed_at=8.5,
    )
    assert trip_on_time(CFG, frozen).kind is TripKind.STALE_DATA  # type: ignore[union-attr]


def plant(driver: SimulatedDriver, tag: str, value: Value) -> None:
    """The minimal plant behind the SimulatedDriver: feedback follows commands."""
    follow = {"R-101.inlet_valve": "R-101.inlet_valve_open", "R-101.pump": "R-101.pump_running"}
    if tag in follow:
        driver.set(follow[tag], value)


async def run_phase(actions: list[tuple[str, Value]]) -> tuple[DosingPhase, SimulatedDriver, list[PhaseReport]]:
    driver = SimulatedDriver("plant", IDLE, on_write=plant)
    io = PlantIO({"plant": driver}, dict.fromkeys(IDLE, "plant"))
    await io.subscribe(list(IDLE))
    await io.connect()
    reports: list[PhaseReport] = []
    phase = DosingPhase(
        io=io,
        cfg=CFG,
        phase_ref="P1",
        source="T-100",
        target=Decimal(100),
        tolerance=Decimal(1),
        quantity_unit="L",
        requires_agitator=False,
        report=reports.append,
    )
    await io.subscribe(list(IDLE), phase.on_value)
    await phase.start()
    for tag, value in actions:
        driver.set(tag, value)
        await asyncio.sleep(0)
    await asyncio.sleep(0.6)  # settle: 0.3 s, then the meter's last notification
    await phase.close()
    return phase, driver, reports


@pytest.mark.requirement("URS-EQP-003")
def test_high_high_stops_the_valve_and_pump_and_holds_without_any_database() -> None:
    phase, driver, reports = asyncio.run(run_phase([("R-101.totalizer", 60.0), ("R-101.level", 1801.0)]))
    assert phase.state is PhaseStatus.HELD
    assert driver.value("R-101.inlet_valve") is False
    assert driver.value("R-101.pump") is False
    assert driver.writes[-2:] == [("R-101.inlet_valve", False), ("R-101.pump", False)]
    assert reports[-1].trip is not None
    assert reports[-1].trip.kind is TripKind.HIGH_HIGH
    assert reports[-1].actual == Decimal("20.000")


def test_the_phase_stops_at_its_target_and_reports_the_metered_quantity() -> None:
    steps = [("R-101.totalizer", total) for total in (80.0, 120.0, 130.0, 140.0)]
    phase, driver, reports = asyncio.run(run_phase(steps))
    assert phase.state is PhaseStatus.COMPLETE
    assert driver.value("R-101.pump") is False
    assert reports[-1].actual == Decimal("100.000")
    assert ("R-101.pump_speed", CFG.fine_speed_pct) in driver.writes


def test_a_start_with_a_failed_permissive_commands_nothing() -> None:
    async def scenario() -> SimulatedDriver:
        driver = SimulatedDriver("plant", IDLE | {"R-101.level": 1700.0})
        io = PlantIO({"plant": driver}, dict.fromkeys(IDLE, "plant"))
        await io.subscribe(list(IDLE))
        await io.connect()
        phase = DosingPhase(
            io=io,
            cfg=CFG,
            phase_ref="P2",
            source="T-100",
            target=Decimal(10),
            tolerance=Decimal(1),
            quantity_unit="L",
            requires_agitator=False,
            report=lambda r: None,
        )
        with pytest.raises(PermissiveFailed, match="start limit"):
            await phase.start()
        return driver

    assert asyncio.run(scenario()).writes == []
