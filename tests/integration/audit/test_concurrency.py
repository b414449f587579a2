"""Many processes append at once: no gaps, no forks, a valid chain (PostgreSQL)."""

from __future__ import annotations

import multiprocessing

import pytest
from sqlalchemy import select

from audit.checkpoints import CheckpointLog, parse_checkpoint
from audit.models import AuditEvent
from ebr.bootstrap import Services
from ebr.trail.services import verify_live
from tests.integration.audit.workers import append_many

WORKERS, EACH, EVERY = 8, 500, 250


@pytest.mark.slow
@pytest.mark.requirement("URS-AUD-006")
@pytest.mark.parametrize("backend", ["postgresql"])
def test_eight_processes_appending_500_events_each_make_one_gapless_valid_chain(audited: Services) -> None:
    settings = audited.settings
    args = [
        (settings.database_url, str(settings.keys_dir), str(settings.checkpoint_log_dir), worker, EACH, EVERY)
        for worker in range(WORKERS)
    ]
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=append_many, args=arg) for arg in args]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=240)
        assert process.exitcode == 0
    with audited.session_factory() as session:
        seqs = list(session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
        actors = set(session.scalars(select(AuditEvent.actor)))
    assert seqs == list(range(1, WORKERS * EACH + 1))
    assert actors == {f"worker-{w}" for w in range(WORKERS)}
    logged = sorted(parse_checkpoint(line).seq for _, line in CheckpointLog(settings.checkpoint_log_dir).lines())
    assert logged == list(range(EVERY, WORKERS * EACH + 1, EVERY))
    report = verify_live(audited)
    assert report.ok, [b.describe() for b in report.breaks]
    assert report.head_seq == WORKERS * EACH
