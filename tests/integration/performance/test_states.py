"""Unit states derived from what the engine audits, and the KPIs computed from them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from ebr.core.clock import FixedClock
from ebr.performance.models import UnitState
from tests.integration.performance.support import START, UNIT, Line


def states(line: Line) -> list[tuple[str, str, dt.timedelta]]:
    with line.services.session_factory() as session:
        rows = session.scalars(select(UnitState).where(UnitState.unit == UNIT).order_by(UnitState.since, UnitState.id))
        return [(r.state, r.cause, r.since - START) for r in rows]


def test_a_batch_run_step_by_step_records_running_and_idle_on_its_unit(line: Line, clock: FixedClock) -> None:
    number = line.start()
    clock.advance(minutes=10)
    line.step(number, 0, minutes=5)
    print(states(line))
    assert states(line)[-2:] == [
        ("running", "", dt.timedelta(minutes=10)),
        ("idle", "waiting for the next step", dt.timedelta(minutes=15)),
    ]
