"""trend_retention: an idle plant's old trend history is pruned; the trends of phases (batch records) stay."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from ebr.bootstrap import Services, build_services
from ebr.core.clock import UTC, FixedClock
from ebr.core.config import Settings
from ebr.core.db import unit_of_work
from ebr.jobs.definitions import builtin_jobs
from ebr.jobs.guards import guard_for
from ebr.jobs.runner import JobRunner, Outcome
from equipment import trend
from equipment.models import TrendPoint

NOW = dt.datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


@pytest.fixture
def plant(settings: Settings) -> Iterator[Services]:
    services = build_services(settings.with_overrides(trend_retention_days=30), clock=FixedClock(NOW))
    with unit_of_work(services.session_factory) as session:
        for name, days, phase in (
            ("idle-old", 31, None),
            ("idle-recent", 29, None),
            ("phase-old", 400, "batch-1:UP1.OP2.PH1"),
        ):
            one = Decimal("1.0")
            session.add(
                TrendPoint(tag=name, at=NOW - dt.timedelta(days=days), minimum=one, mean=one, maximum=one, last=one,
                           samples=1, phase_ref=phase)
            )  # fmt: skip
    yield services
    services.close()


def _tags(services: Services) -> list[str]:
    with services.session_factory() as session:
        return sorted(session.scalars(select(TrendPoint.tag)))


def test_the_job_deletes_only_idle_history_past_the_retention(plant: Services, tmp_path: Path) -> None:
    specs = [spec for spec in builtin_jobs({}) if spec.name == "trend_retention"]
    assert specs[0].every == dt.timedelta(days=1)
    runner = JobRunner(services=plant, specs=specs, guard=guard_for(plant.engine, tmp_path), sleep=lambda _s: None)
    report = runner.run("trend_retention")
    assert report.outcome is Outcome.OK
    assert report.result == {"deleted": 1, "before": (NOW - dt.timedelta(days=30)).isoformat()}
    assert _tags(plant) == ["idle-recent", "phase-old"]
    assert runner.run("trend_retention").outcome is Outcome.DONE  # the day's slot runs once
    with unit_of_work(plant.session_factory) as session:
        assert trend.prune_idle(session, before=NOW - dt.timedelta(days=30)) == 0


def test_a_naive_cut_off_is_refused(plant: Services) -> None:
    with plant.session_factory() as session, pytest.raises(ValueError, match="aware datetime"):
        trend.prune_idle(session, before=dt.datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test
