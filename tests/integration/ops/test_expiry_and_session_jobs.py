"""lot_expiry and idle_sessions: the scheduler's calls into the materials and session services."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from audit.models import AuditEvent
from ebr.bootstrap import Services, build_services
from ebr.core.clock import UTC, FixedClock
from ebr.core.config import Settings
from ebr.core.db import unit_of_work
from ebr.execution.service import build
from ebr.jobs.definitions import builtin_jobs
from ebr.jobs.guards import guard_for
from ebr.jobs.runner import JobRunner, Outcome, RunReport
from signatures.errors import SessionExpired
from tests.integration.execution.conftest import Floor, make_lot, make_people


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(dt.datetime(2026, 11, 24, 8, 0, tzinfo=UTC))


@pytest.fixture
def shop(settings: Settings, clock: FixedClock) -> Iterator[Services]:
    services = build_services(settings, clock=clock)
    make_people(services)
    yield services
    services.close()


def _run(services: Services, tmp_path: Path, job: str) -> RunReport:
    specs = [spec for spec in builtin_jobs({}) if spec.name == job]
    guard = guard_for(services.engine, tmp_path)
    return JobRunner(services=services, specs=specs, guard=guard, sleep=lambda _s: None).run(job)


def _events(services: Services, action: str) -> list[dict[str, object]]:
    with services.session_factory() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq))
        return [json.loads(row.canonical) for row in rows]


@pytest.mark.requirement("URS-BAT-004")
def test_released_lots_past_their_expiry_date_are_expired_by_the_system_and_audited(
    shop: Services, clock: FixedClock, tmp_path: Path
) -> None:
    floor = Floor(shop, build(shop))
    make_lot(floor, "RM-A", "L-OLD", "10", expires=dt.date(2026, 11, 30))
    make_lot(floor, "RM-A", "L-NEW", "10", expires=dt.date(2027, 6, 30))
    make_lot(floor, "RM-A", "L-QUAR", "10", expires=dt.date(2026, 11, 30), release=False)
    assert _run(shop, tmp_path, "lot_expiry").outcome is Outcome.OK
    assert not [e for e in _events(shop, "lot.status.changed") if e["after"] == {"status": "expired"}]

    clock.advance(days=7)
    report = _run(shop, tmp_path, "lot_expiry")
    assert report.outcome is Outcome.OK
    mats = build(shop).materials
    with shop.session_factory() as session:
        statuses = {lot: mats.lot(session, lot).status for lot in ("L-OLD", "L-NEW", "L-QUAR")}
    assert statuses == {"L-OLD": "expired", "L-NEW": "released", "L-QUAR": "quarantine"}
    expired = [e for e in _events(shop, "lot.status.changed") if e["after"] == {"status": "expired"}]
    assert [(e["entity"], e["actor"]) for e in expired] == [({"type": "lot", "id": "L-OLD"}, "system:scheduler")]
    assert expired[0]["reason"] == "expiry date 2026-11-30 has passed"


@pytest.mark.requirement("URS-SEC-005")
def test_sessions_idle_past_the_timeout_are_ended_by_the_sweep(
    shop: Services, clock: FixedClock, tmp_path: Path
) -> None:
    sessions = shop.users.sessions
    with unit_of_work(shop.session_factory) as session:
        idle = sessions.start(session, user_id="olga")
    clock.advance(minutes=10)
    with unit_of_work(shop.session_factory) as session:
        busy = sessions.start(session, user_id="sam")
    clock.advance(minutes=6)
    assert _run(shop, tmp_path, "idle_sessions").outcome is Outcome.OK
    ended = _events(shop, "auth.session_ended")
    assert [(e["actor"], e["reason"]) for e in ended] == [("olga", "idle timeout")]
    with unit_of_work(shop.session_factory) as session:
        assert sessions.resume(session, busy) == "sam"
        with pytest.raises(SessionExpired, match="log in"):
            sessions.resume(session, idle)
