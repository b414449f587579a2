"""The batch_sync job: a timed hold past its maximum opens a deviation (once) and raises an alert."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ebr.bootstrap import Services, build_services
from ebr.core.clock import UTC, FixedClock
from ebr.core.config import Settings
from ebr.execution.models import Deviation
from ebr.execution.service import build
from ebr.jobs.definitions import builtin_jobs
from ebr.jobs.guards import guard_for
from ebr.jobs.runner import JobRunner, Outcome
from tests.integration.execution.conftest import Floor, make_people, make_plant, recipe

HOLD: dict[str, Any] = {
    "name": "HOLD",
    "title": "A recipe with one timed hold",
    "product": {"code": "FG-HOLD", "name": "Held product"},
    "batch_size": {"nominal": 100, "min": 50, "max": 150, "unit": "kg"},
    "unit_procedures": [
        {
            "id": "UP1",
            "name": "Mixing",
            "equipment": {"unit_class": "reactor", "unit": "R-101"},
            "operations": [
                {
                    "id": "OP1",
                    "name": "Mix",
                    "phases": [
                        {
                            "id": "PH1",
                            "name": "Stir",
                            "type": "timed_hold",
                            "min_duration": 1,
                            "max_duration": 5,
                            "unit": "min",
                        },
                    ],
                }
            ],
        }
    ],
}


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(dt.datetime.now(UTC))


@pytest.fixture
def floor(settings: Settings, clock: FixedClock) -> Iterator[Floor]:
    services = build_services(settings, clock=clock)
    make_people(services)
    make_plant(services, {"R-101": "unit"})
    yield Floor(services, build(services))
    services.close()


def _run(services: Services, tmp_path: Path) -> Any:
    specs = [spec for spec in builtin_jobs({}) if spec.name == "batch_sync"]
    runner = JobRunner(services=services, specs=specs, guard=guard_for(services.engine, tmp_path), sleep=lambda _s: 0)
    return runner.run("batch_sync")


def _deviations(services: Services) -> list[Deviation]:
    with services.session_factory() as session:
        return list(session.scalars(select(Deviation)))


@pytest.mark.requirement("URS-BAT-003")
def test_a_timed_hold_past_its_maximum_opens_one_deviation_and_raises_an_alert(
    floor: Floor, clock: FixedClock, tmp_path: Path
) -> None:
    services = floor.services
    number = floor.batch(recipe(HOLD))
    floor.work(floor.execution.start_step, actor="olga", ref=number, path="UP1.OP1.PH1")
    clock.advance(minutes=3)
    first = _run(services, tmp_path)
    assert first.outcome is Outcome.OK, first.error
    assert first.result == {"batches": 1, "time_exceeded": 0}
    assert _deviations(services) == []
    clock.advance(minutes=3)
    second = _run(services, tmp_path)
    assert second.result == {"batches": 1, "time_exceeded": 1}
    (deviation,) = _deviations(services)
    assert deviation.kind == "time_exceeded"
    assert deviation.step_path == "UP1.OP1.PH1"
    alerts = [a for a in services.users.notifier.sent if a[0] == "batch.timed_hold.exceeded"]  # type: ignore[attr-defined]
    assert alerts[-1][1]["batch"] == number
    clock.advance(minutes=3)
    assert _run(services, tmp_path).result == {"batches": 1, "time_exceeded": 0}
    assert len(_deviations(services)) == 1


@pytest.mark.requirement("URS-SYS-007")
def test_metrics_count_batches_steps_and_open_deviations(floor: Floor, clock: FixedClock, tmp_path: Path) -> None:
    from ebr.app import create_app

    services = floor.services
    number = floor.batch(recipe(HOLD))
    floor.work(floor.execution.start_step, actor="olga", ref=number, path="UP1.OP1.PH1")
    clock.advance(minutes=6)
    _run(services, tmp_path)
    text = create_app(services=services).test_client().get("/metrics").get_data(as_text=True)
    assert 'ebr_batches{state="Running",status="in_execution"} 1.0' in text
    assert 'ebr_batch_steps{level="phase",state="Running"} 1.0' in text
    assert "ebr_steps_completed_total 0.0" in text
    assert 'ebr_deviations_open{severity="minor"} 1.0' in text
    assert 'ebr_scheduled_job_runs_total{job="batch_sync"} 1.0' in text
