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


def test_a_silent_runtime_puts_its_areas_units_down_once_and_audits_it(line: Line, clock: FixedClock) -> None:
    from audit.models import AuditEvent
    from ebr.core.db import unit_of_work
    from ebr.performance.jobs import mark_silent_runtimes
    from equipment.models import Heartbeat

    number = line.start()
    line.step(number, 0, minutes=5)
    with unit_of_work(line.services.session_factory) as session:
        session.add(Heartbeat(runtime_id="rt-1", area="Formulation", host="h", pid=1, started_at=START,
                              beat_at=clock.now(), connected=True))  # fmt: skip
    assert mark_silent_runtimes(line.services, actor="system:scheduler") == {"down": []}
    clock.advance(seconds=16)
    assert mark_silent_runtimes(line.services, actor="system:scheduler") == {"down": [UNIT]}
    assert mark_silent_runtimes(line.services, actor="system:scheduler") == {"down": []}
    state, cause, _ = states(line)[-1]
    assert state == "down"
    assert cause.startswith("communication lost: runtime rt-1 silent since")
    with line.services.session_factory() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "performance.unit.comms_lost")).all()
        assert [e.entity_id for e in events] == [UNIT]


def test_a_supervisors_hold_holds_the_unit_by_name_and_a_restart_runs_it_again(line: Line, clock: FixedClock) -> None:
    number = line.start()
    path = "UP1.OP1.PH1"
    line.work(line.ex.start_step, actor="olga", ref=number, path=path)
    clock.advance(minutes=3)
    line.work(line.ex.command_batch, actor="sam", ref=number, command="hold", reason="power dip")
    clock.advance(minutes=7)
    line.work(line.ex.command_batch, actor="sam", ref=number, command="restart")
    assert [(s, c) for s, c, _ in states(line)][-3:] == [
        ("running", ""),
        ("held", "held by sam: power dip"),
        ("running", ""),
    ]
    assert [t for _, _, t in states(line)][-2:] == [dt.timedelta(minutes=3), dt.timedelta(minutes=10)]
