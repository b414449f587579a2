"""Crash-only runtime, for real: a database failure that outlasts the limit ends the process; the restart recovers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from equipment import commands
from equipment.commands import PhaseStatus
from tests.support.plant import SimulatorHandle, start_runtime, start_simulator

SETTLED = {PhaseStatus.COMPLETE, PhaseStatus.HELD, PhaseStatus.REFUSED, PhaseStatus.STOPPED}
# The heartbeat and the phase reports both fail while these are away: the held report of the
# stopping runtime is lost too, so only the restart's recovery can put the phase on HELD.
AWAY = ("equipment_heartbeat", "equipment_phase_state")


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[SimulatorHandle]:
    with start_simulator(tmp_path) as sim:
        yield sim


def _rename(services: Services, *, away: bool) -> None:
    with services.engine.begin() as conn:
        for table in AWAY:
            old, new = (table, f"{table}_away") if away else (f"{table}_away", table)
            conn.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))


@pytest.mark.requirement("URS-SYS-021")
def test_a_database_lost_beyond_the_limit_ends_the_runtime_and_its_restart_holds_the_dosing(
    services: Services, simulator: SimulatorHandle, tmp_path: Path
) -> None:
    env = os.environ | {
        "EBR_DATABASE_URL": services.settings.database_url,
        "EBR_DATA_DIR": str(tmp_path / "data"),
        "EBR_SECRET_KEY": "test-secret-key",
    }
    cmd = [sys.executable, "-m", "ebr", "runtime", "--config", str(simulator.config_path), "--give-up-after", "2"]
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    renamed = False
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
            services.session_factory, "C1/dose", {PhaseStatus.RUNNING} | SETTLED, timeout=40
        )
        assert state.state is PhaseStatus.RUNNING
        assert simulator.state()["R-101.pump"] is True
        services.engine.dispose()  # no pooled connection of ours holds a lock on the tables
        _rename(services, away=True)
        renamed = True
        _out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.communicate(timeout=10)
        if renamed:
            _rename(services, away=False)
    assert process.returncode == 2, err[-2000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: equipment runtime of area"), err[-2000:]
    assert "failed" in last
    assert "restarts it" in last
    assert "Traceback" not in last
    plant = simulator.state()
    assert plant["R-101.pump"] is False, "the failing runtime still drove its outputs safe on the way out"
    with services.session_factory() as session:
        left = commands.latest_state(session, "C1/dose")
    assert left is not None
    assert left.state is PhaseStatus.RUNNING, "the held report could not be recorded: the database shows running"
    with start_runtime(services, simulator.config_path) as handle:
        handle.wait_connected(timeout=30)
        held = commands.wait_for_state(services.session_factory, "C1/dose", SETTLED, timeout=30)
        assert held.state is PhaseStatus.HELD
        assert "restarted" in held.reason
        time.sleep(0.3)
        plant = simulator.state()
        assert plant["R-101.pump"] is False
        assert plant["R-101.inlet_valve"] is False
