"""Two real scheduler processes on one database run each job once per slot."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from audit.models import AuditEvent
from ebr.bootstrap import Services
from ebr.jobs.models import ScheduledJob, SchedulerHeartbeat

ROOT = Path(__file__).resolve().parents[3]


def _run_two(mode: str, database_url: str, data_dir: Path, seconds: float) -> list[dict[str, str]]:
    child = "tests.integration.ops.scheduler_child"
    command = [sys.executable, "-m", child, mode, database_url, str(data_dir), str(seconds)]
    children = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = []
    for child in children:
        out, _ = child.communicate(timeout=seconds + 60)
        assert child.returncode == 0, out
        outcomes.append([json.loads(line) for line in out.splitlines() if line.startswith("{")])
    assert all(outcomes), "both processes must have tried the job"
    return [item for per_process in outcomes for item in per_process]


def _ticks(services: Services) -> Counter[str]:
    with services.session_factory() as session:
        slots = session.scalars(select(AuditEvent.entity_id).where(AuditEvent.action == "test.tick.ran")).all()
    return Counter(slots)


@pytest.mark.requirement("URS-SYS-007")
def test_two_processes_hammering_one_job_run_each_slot_exactly_once(services: Services, tmp_path: Path) -> None:
    outcomes = _run_two("hammer", services.settings.database_url, tmp_path, 4)
    ticks = _ticks(services)
    assert ticks, "the job never ran"
    assert max(ticks.values()) == 1, f"a slot ran twice: {ticks}"
    ran = Counter(o["slot"] for o in outcomes if o["outcome"] == "ok")
    assert sum(ran.values()) == len(ticks)
    skipped = [o for o in outcomes if o["outcome"] in {"busy", "done"}]
    assert skipped, "the second process never met the guard: the test did not contend"
    with services.session_factory() as session:
        ledger = session.get(ScheduledJob, "tick")
    assert ledger is not None
    assert (ledger.runs, ledger.failures) == (len(ticks), 0)


@pytest.mark.requirement("URS-SYS-007")
def test_two_scheduler_processes_share_the_job_store_and_never_double_a_run(services: Services, tmp_path: Path) -> None:
    outcomes = _run_two("scheduler", services.settings.database_url, tmp_path, 5)
    ticks = _ticks(services)
    assert len(ticks) >= 3, f"expected a run in most of the 5 seconds, got {ticks}"
    assert max(ticks.values()) == 1, f"a slot ran twice: {ticks}"
    assert sum(1 for o in outcomes if o["outcome"] == "ok") == len(ticks)
    with services.session_factory() as session:
        beats = session.scalars(select(SchedulerHeartbeat.process)).all()
    assert len(beats) == 2, "each scheduler process records its own heartbeat"


@pytest.mark.requirement("URS-SYS-007")
def test_a_scheduler_killed_mid_run_does_not_block_the_job(services: Services, tmp_path: Path) -> None:
    import datetime as dt

    from ebr.jobs.guards import guard_for
    from ebr.jobs.runner import JobRunner, JobSpec, Outcome

    child = "tests.integration.ops.scheduler_child"
    command = [sys.executable, "-m", child, "slow", services.settings.database_url, str(tmp_path), "0"]
    stuck = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert stuck.stdout is not None
    assert stuck.stdout.readline().strip() == "holding"
    spec = JobSpec(name="slow", func=lambda _c: {"ran": 1}, every=dt.timedelta(hours=1), description="x", gmp=False)
    runner = JobRunner(services=services, specs=[spec], guard=guard_for(services.engine, tmp_path))
    assert runner.run("slow").outcome is Outcome.BUSY  # the stuck process holds it
    stuck.kill()
    stuck.wait(timeout=30)
    stuck.stdout.close()
    report = runner.run("slow")
    assert report.outcome is Outcome.OK  # the lock died with its process; the slot was never finished
    assert report.result == {"ran": 1}
