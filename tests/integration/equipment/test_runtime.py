"""The runtime process: heartbeat, crash recovery, LISTEN/NOTIFY wake-up."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from ebr.bootstrap import Services
from ebr.core.clock import FixedClock
from ebr.core.db import unit_of_work
from equipment import commands
from equipment.commands import PhaseStatus
from tests.support.plant import SimulatorHandle, start_runtime, start_simulator

SETTLED = {PhaseStatus.COMPLETE, PhaseStatus.HELD, PhaseStatus.REFUSED, PhaseStatus.STOPPED}


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[SimulatorHandle]:
    with start_simulator(tmp_path) as sim:
        yield sim


def alive(services: Services) -> bool:
    with services.session_factory() as session:
        return commands.runtime_status(session, now=services.clock.now()).alive


@pytest.mark.requirement("URS-EQP-003")
def test_the_heartbeat_shows_within_seconds_that_the_runtime_is_gone(
    services: Services, simulator: SimulatorHandle
) -> None:
    assert not alive(services)
    with start_runtime(services, simulator.config_path) as handle:
        handle.wait_connected()
        time.sleep(1.2)
        assert alive(services)
    deadline = time.monotonic() + 5
    while alive(services):
        assert time.monotonic() < deadline, "the heartbeat still says alive 5 s after the runtime stopped"
        time.sleep(0.2)


@pytest.mark.requirement("URS-EQP-003")
def test_a_crashed_runtime_leaves_no_dosing_running_after_it_restarts(
    services: Services, simulator: SimulatorHandle, tmp_path: Path
) -> None:
    env = os.environ | {
        "EBR_DATABASE_URL": services.settings.database_url,
        "EBR_DATA_DIR": str(tmp_path / "data"),
        "EBR_SECRET_KEY": "test-secret-key",
    }
    cmd = [sys.executable, "-m", "ebr", "runtime", "--config", str(simulator.config_path)]
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with unit_of_work(services.session_factory) as session:
            commands.start_dosing(
                session,
                actor="op1",
                phase_ref="C1/dose",
                source="T-100",
                destination="R-101",
                target=Decimal(500),
                tolerance=Decimal(1),
            )
        state = commands.wait_for_state(
            services.session_factory, "C1/dose", {PhaseStatus.RUNNING} | SETTLED, timeout=20
        )
        assert state.state is PhaseStatus.RUNNING
        time.sleep(0.5)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    assert simulator.state()["R-101.pump"] is True, "a crash leaves the plant as it was"
    with start_runtime(services, simulator.config_path) as handle:
        handle.wait_connected()
        held = commands.wait_for_state(services.session_factory, "C1/dose", SETTLED, timeout=5)
        assert held.state is PhaseStatus.HELD
        assert "restarted" in held.reason
        time.sleep(0.3)
        plant = simulator.state()
        assert plant["R-101.pump"] is False
        assert plant["R-101.inlet_valve"] is False


def test_a_command_wakes_the_runtime_at_once_by_listen_notify_or_short_polling(
    services: Services, simulator: SimulatorHandle
) -> None:
    # On PostgreSQL polling is slowed to 10 s, so only NOTIFY can explain a quick pick-up.
    postgres = services.settings.database_url.startswith("postgresql")
    with start_runtime(services, simulator.config_path, poll_s=10.0 if postgres else 0.2) as handle:
        handle.wait_connected()
        time.sleep(0.5)  # the LISTEN connection is up
        with unit_of_work(services.session_factory) as session:
            commands.start_dosing(
                session,
                actor="op1",
                phase_ref="N1/dose",
                source="T-100",
                destination="R-101",
                target=Decimal(20),
                tolerance=Decimal(1),
            )
        submitted = time.monotonic()
        commands.wait_for_state(services.session_factory, "N1/dose", {PhaseStatus.RUNNING} | SETTLED, timeout=5)
        assert time.monotonic() - submitted < 2.0


@pytest.mark.requirement("URS-EQP-003")
def test_a_start_written_while_no_runtime_ran_does_not_fire_later(
    services: Services, simulator: SimulatorHandle
) -> None:
    an_hour_ago = FixedClock(services.clock.now() - dt.timedelta(hours=1))
    with unit_of_work(services.session_factory) as session:
        commands.start_dosing(
            session,
            actor="op1",
            phase_ref="O1/dose",
            source="T-100",
            destination="R-101",
            target=Decimal(50),
            tolerance=Decimal(1),
            clock=an_hour_ago,
        )
    with start_runtime(services, simulator.config_path) as handle:
        handle.wait_connected()
        state = commands.wait_for_state(services.session_factory, "O1/dose", SETTLED, timeout=5)
    assert state.state is PhaseStatus.REFUSED
    assert "start refused: submitted 36" in state.reason
    assert simulator.state()["R-101.pump"] is False


@pytest.mark.requirement("URS-EQP-003")
def test_stopping_the_runtime_holds_a_running_dosing_and_stops_the_transfer(
    services: Services, simulator: SimulatorHandle
) -> None:
    with start_runtime(services, simulator.config_path) as handle:
        handle.wait_connected()
        with unit_of_work(services.session_factory) as session:
            commands.start_dosing(
                session,
                actor="op1",
                phase_ref="S1/dose",
                source="T-100",
                destination="R-101",
                target=Decimal(500),
                tolerance=Decimal(1),
            )
        commands.wait_for_state(services.session_factory, "S1/dose", {PhaseStatus.RUNNING} | SETTLED, timeout=5)
    state = commands.wait_for_state(services.session_factory, "S1/dose", SETTLED, timeout=5)
    assert state.state is PhaseStatus.HELD
    assert state.reason == "equipment runtime stopped"
    assert simulator.state()["R-101.pump"] is False
