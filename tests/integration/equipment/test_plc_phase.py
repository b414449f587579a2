"""The PLC phase interface against the simulator's PLC phase R-101.HEAT."""

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

SETTLED = {PhaseStatus.COMPLETE, PhaseStatus.HELD, PhaseStatus.REFUSED, PhaseStatus.STOPPED}


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[SimulatorHandle]:
    with start_simulator(tmp_path) as sim:
        yield sim


@pytest.fixture
def runtime(services: Services, simulator: SimulatorHandle) -> Iterator[RuntimeHandle]:
    with start_runtime(services, simulator.config_path) as handle:
        handle.wait_connected()
        yield handle


def heat(services: Services, phase_ref: str, temperature: str) -> None:
    with unit_of_work(services.session_factory) as session:
        commands.start_plc_phase(
            session,
            actor="op1",
            phase_ref=phase_ref,
            phase="R-101.HEAT",
            unit="R-101",
            setpoints={"temperature": Decimal(temperature)},
        )


@pytest.mark.requirement("URS-EQP-002")
def test_the_plc_refuses_a_start_and_the_phase_is_recorded_as_refused(
    services: Services, simulator: SimulatorHandle, runtime: RuntimeHandle
) -> None:
    heat(services, "H1/heat", "23")
    state = commands.wait_for_state(services.session_factory, "H1/heat", SETTLED, timeout=10)
    assert state.state is PhaseStatus.REFUSED
    assert "refused start" in state.reason


@pytest.mark.requirement("URS-EQP-002")
def test_a_plc_phase_runs_to_complete_with_its_setpoint_and_reports(
    services: Services, simulator: SimulatorHandle, runtime: RuntimeHandle
) -> None:
    simulator.set(**{"R-101.agitator": True})
    time.sleep(0.3)
    heat(services, "H2/heat", "22.5")
    running = commands.wait_for_state(services.session_factory, "H2/heat", {PhaseStatus.RUNNING} | SETTLED, timeout=10)
    assert running.state is PhaseStatus.RUNNING
    done = commands.wait_for_state(services.session_factory, "H2/heat", SETTLED, timeout=20)
    assert done.state is PhaseStatus.COMPLETE, done.reason
    assert abs(simulator.state()["R-101.temperature"] - 22.5) < 0.3
    with services.session_factory() as session:
        last = commands.events(session, phase_ref="H2/heat")[-1]
        assert abs(Decimal(last.data["temperature"]) - Decimal("22.5")) < Decimal("0.3")


@pytest.mark.requirement("URS-EQP-003")
def test_a_plc_watchdog_that_stops_echoing_holds_the_phase(
    services: Services, simulator: SimulatorHandle, runtime: RuntimeHandle
) -> None:
    simulator.set(**{"R-101.agitator": True})
    time.sleep(0.3)
    heat(services, "H3/heat", "60")
    commands.wait_for_state(services.session_factory, "H3/heat", {PhaseStatus.RUNNING} | SETTLED, timeout=10)
    simulator.fault("watchdog_frozen")
    state = commands.wait_for_state(services.session_factory, "H3/heat", SETTLED, timeout=6)
    assert state.state is PhaseStatus.HELD
    assert "watchdog" in state.reason
    time.sleep(0.5)
    assert simulator.state()["R-101.heat_state"] == 5, "the PLC was asked to hold"
