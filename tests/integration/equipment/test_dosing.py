"""Dosing through the real runtime against the real simulator (OPC UA over sockets)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from equipment import commands
from equipment.commands import PhaseStatus
from tests.support.plant import RuntimeHandle, SimulatorHandle, start_runtime, start_simulator

FINAL_OR_HELD = {PhaseStatus.COMPLETE, PhaseStatus.HELD, PhaseStatus.REFUSED, PhaseStatus.STOPPED}


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[SimulatorHandle]:
    with start_simulator(tmp_path) as sim:
        yield sim


@pytest.fixture
def runtime(services: Services, simulator: SimulatorHandle) -> Iterator[RuntimeHandle]:
    with start_runtime(services, simulator.config_path) as handle:
        handle.wait_connected()
        yield handle


def dose(services: Services, phase_ref: str, target: str, tolerance: str) -> None:
    with unit_of_work(services.session_factory) as session:
        commands.start_dosing(
            session,
            actor="op1",
            phase_ref=phase_ref,
            source="T-100",
            destination="R-101",
            target=Decimal(target),
            tolerance=Decimal(tolerance),
            unit="L",
        )


@pytest.mark.requirement("URS-EQP-002")
@pytest.mark.slow
def test_dosing_250_litres_into_r101_ends_within_half_a_percent(
    services: Services, simulator: SimulatorHandle, runtime: RuntimeHandle
) -> None:
    before = simulator.state()["R-101.totalizer"]
    dose(services, "B1/dose", "250.0", "1.25")
    state = commands.wait_for_state(services.session_factory, "B1/dose", FINAL_OR_HELD, timeout=40)
    assert state.state is PhaseStatus.COMPLETE, state.reason
    assert state.actual is not None
    assert abs(state.actual - Decimal("250.0")) <= Decimal("1.25")
    delivered = simulator.state()["R-101.totalizer"] - before
    assert abs(Decimal(str(delivered)) - state.actual) < Decimal("0.01"), "the record must equal what the meter counted"
    assert simulator.state()["R-101.inlet_valve"] is False
    assert simulator.state()["R-101.pump"] is False
    with services.session_factory() as session:
        points = commands.trend(session, "R-101.level", phase_ref="B1/dose")
        assert len(points) >= 3, "the dosing trend is kept for the batch record"


@pytest.mark.requirement("URS-EQP-003")
def test_high_high_level_during_dosing_closes_the_valve_and_holds_the_phase(
    services: Services, simulator: SimulatorHandle, runtime: RuntimeHandle
) -> None:
    simulator.set(**{"R-101.level": 1500.0})
    time.sleep(0.3)
    dose(services, "B2/dose", "250", "1")
    time.sleep(1.0)
    simulator.fault("leak", on=False)
    simulator.set(**{"R-101.level": 1790.0})  # an unexpected inflow pushes the level up
    state = commands.wait_for_state(services.session_factory, "B2/dose", FINAL_OR_HELD, timeout=20)
    assert state.state is PhaseStatus.HELD
    assert "high-high" in state.reason
    plant = simulator.state()
    assert plant["R-101.inlet_valve"] is False
    assert plant["R-101.pump"] is False
    with services.session_factory() as session:
        alarms = commands.alarms(session, phase_ref="B2/dose")
        assert [a.condition for a in alarms] == ["level_high_high"]
    with unit_of_work(services.session_factory) as session:
        services.equipment.acknowledge_alarm(session, actor="sup1", alarm_id=alarms[0].id, comment="inflow found")
    with services.session_factory() as session:
        assert commands.alarms(session, phase_ref="B2/dose", open_only=True) == []


@pytest.mark.requirement("URS-EQP-003")
def test_a_start_is_refused_when_a_permissive_does_not_hold(
    services: Services, simulator: SimulatorHandle, runtime: RuntimeHandle
) -> None:
    simulator.set(**{"R-101.level": 1700.0})
    time.sleep(0.3)
    dose(services, "B3/dose", "100", "1")
    state = commands.wait_for_state(services.session_factory, "B3/dose", FINAL_OR_HELD, timeout=10)
    assert state.state is PhaseStatus.REFUSED
    assert "start limit" in state.reason
    assert not any(w["tag"] == "R-101.inlet_valve" and w["value"] for w in simulator.writes())
