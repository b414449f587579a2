"""`ebr scheduler` as a real process: jobs run, heartbeats are written, SIGTERM stops it cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from audit.models import AuditEvent
from ebr.bootstrap import Services
from ebr.jobs.models import SchedulerHeartbeat
from ebr.trail import services as audit_service

ROOT = Path(__file__).resolve().parents[3]


def _verified(services: Services) -> list[str]:
    with services.session_factory() as session:
        return list(session.scalars(select(AuditEvent.actor).where(AuditEvent.action == "audit.chain.verified")))


@pytest.mark.requirement("URS-SYS-007")
def test_the_scheduler_command_runs_its_jobs_beats_and_stops_on_sigterm(services: Services) -> None:
    audit_service.ensure_system_key(services)
    env = {
        **os.environ,
        "EBR_DATABASE_URL": services.settings.database_url,
        "EBR_DATA_DIR": str(services.settings.data_dir),
        "EBR_JOB_AUDIT_VERIFY_SECONDS": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "ebr", "scheduler"], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(_verified(services)) < 2:
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert len(_verified(services)) >= 2
    assert set(_verified(services)) == {"system:scheduler"}
    with services.session_factory() as session:
        assert session.scalars(select(SchedulerHeartbeat)).all()
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(line["message"].startswith("job audit_verify slot") and line["level"] == "INFO" for line in lines)
    assert any("stopping on signal" in line["message"] for line in lines)


def test_the_scheduler_refuses_to_start_on_an_empty_database(empty_database_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "EBR_DATABASE_URL": empty_database_url, "EBR_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "ebr", "scheduler"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "ebr db upgrade" in done.stderr
