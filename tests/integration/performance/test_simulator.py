"""Dosing on the plant simulator through the real equipment runtime, with injected faults:
the recorded unit states, their durations against the runtime's own phase times, and the
OEE computed from them."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from ebr.bootstrap import Services, build_services
from ebr.core.clock import SystemClock
from ebr.core.config import Settings
from ebr.core.db import unit_of_work
from ebr.performance import report
from ebr.performance.config import PerformanceConfig
from ebr.performance.kpi import StateKind, seconds
from ebr.performance.models import UnitState
from equipment import commands
from equipment.commands import PhaseStatus
from equipment.models import PhaseState
from tests.support.plant import RuntimeHandle, SimulatorHandle, start_runtime, start_simulator

AREA, UNIT = "Formulation", "R-101"
FINAL = {PhaseStatus.COMPLETE, PhaseStatus.HELD, PhaseStatus.REFUSED, PhaseStatus.STOPPED}


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    built = build_services(settings, clock=SystemClock())
    with unit_of_work(built.session_factory) as session:
        built.equipment.ensure_area(session, actor="admin", name=AREA)
        built.equipment.register(session, actor="admin", tag=UNIT, kind="unit", name=UNIT, area=AREA, reason="test")
    yield built
    built.close()


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[SimulatorHandle]:
    with start_simulator(tmp_path) as sim:
        yield sim


@pytest.fixture
def runtime(services: Services, simulator: SimulatorHandle) -> Iterator[RuntimeHandle]:
    with start_runtime(services, simulator.config_path) as handle:
        handle.wait_connected()
        yield handle


def dose(services: Services, ref: str, target: str) -> PhaseState:
    with unit_of_work(services.session_factory) as session:
        commands.start_dosing(
            session, actor="olga", phase_ref=ref, source="T-100", destination=UNIT, target=Decimal(target),
            tolerance=Decimal("1"),
        )  # fmt: skip
    commands.wait_for_state(services.session_factory, ref, {PhaseStatus.RUNNING} | FINAL, timeout=10)
    return commands.wait_for_state(services.session_factory, ref, FINAL, timeout=20)


def rows(services: Services) -> list[UnitState]:
    with services.session_factory() as session:
        found = session.scalars(select(UnitState).where(UnitState.unit == UNIT).order_by(UnitState.since, UnitState.id))
        return list(found)


@pytest.mark.requirement("URS-OEE-001")
def test_states_durations_and_oee_follow_the_runtime_through_a_lost_server(
    services: Services, simulator: SimulatorHandle, runtime: RuntimeHandle
) -> None:
    since = services.clock.now()
    done = dose(services, "P1/dose", "20")
    assert done.state is PhaseStatus.COMPLETE
    with unit_of_work(services.session_factory) as session:
        commands.start_dosing(
            session, actor="olga", phase_ref="P2/dose", source="T-100", destination=UNIT, target=Decimal("400"),
            tolerance=Decimal("1"),
        )  # fmt: skip
    commands.wait_for_state(services.session_factory, "P2/dose", {PhaseStatus.RUNNING} | FINAL, timeout=10)
    time.sleep(0.5)
    simulator.kill()
    lost = commands.wait_for_state(services.session_factory, "P2/dose", FINAL, timeout=5)
    assert lost.state is PhaseStatus.HELD
    time.sleep(0.3)
    until = services.clock.now()

    found = rows(services)
    assert [(r.state, r.cause.split(":")[0]) for r in found] == [
        ("running", ""),
        ("idle", "waiting for the next step"),
        ("running", ""),
        ("down", "communication lost"),
    ]
    with services.session_factory() as session:
        first = session.get(PhaseState, "P1/dose")
        assert first is not None
        assert first.started_at is not None
        assert first.ended_at is not None
        runtime_says = first.ended_at - first.started_at
    # The state rows carry the audit events' times; the runtime's phase row its own clock readings.
    assert abs((found[1].since - found[0].since) - runtime_says) < dt.timedelta(milliseconds=500)

    with services.session_factory() as session:
        built = report.build(session, PerformanceConfig(), report.Scope(area=AREA), since, until, plant_timezone="UTC")
    spent = built.kpis.times
    assert sum(spent.by_state.values()) == seconds(until - since)
    expected_running = (found[1].since - found[0].since) + (found[3].since - found[2].since)
    assert spent.running == seconds(expected_running)
    assert spent.by_state[StateKind.DOWN] == seconds(until - found[3].since)
    # Before its first phase the unit had no order: planned time, outside the planned busy time.
    assert built.kpis.availability == spent.running / seconds(until - found[0].since)
    assert spent.minor_stops == 1  # down for under the 5 min threshold
    # Dosing outside any batch makes nothing: no ideal time earned, no quality, so no OEE.
    assert built.kpis.effectiveness == 0
    assert built.kpis.quality is None
    assert built.kpis.oee is None


def test_a_valve_that_does_not_follow_holds_the_unit_by_its_interlock(
    services: Services, simulator: SimulatorHandle, runtime: RuntimeHandle
) -> None:
    simulator.fault("valve_stuck")
    stuck = dose(services, "V1/dose", "20")
    assert stuck.state is PhaseStatus.HELD
    found = rows(services)
    assert [r.state for r in found] == ["running", "held"]
    assert found[-1].cause.startswith("interlock: ")
    assert "did not report open" in found[-1].cause
