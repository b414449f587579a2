"""Many processes append at once: no gaps, no forks, a valid chain (PostgreSQL)."""

from __future__ import annotations

import itertools
import multiprocessing

import pytest
from sqlalchemy import select, text

from audit.checkpoints import CheckpointLog, parse_checkpoint
from audit.models import AuditEvent
from ebr.bootstrap import Services
from ebr.trail.services import verify_live
from tests.integration.audit.workers import CHANGE_TABLE, append_many, change_and_record

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
    # A commit that links a multiple of EVERY signs a tree head over the trail as it then is
    # (PostgreSQL links at commit: concurrent commits may have moved the head on) unless a
    # concurrent one signed as far already; the last commit's tree head covers the whole trail.
    logged = [parse_checkpoint(line).seq for _, line in CheckpointLog(settings.checkpoint_log_dir).lines()]
    assert len(set(logged)) == len(logged)
    assert max(logged) == WORKERS * EACH
    assert all(seq >= EVERY for seq in logged)
    report = verify_live(audited)
    assert report.ok, [b.describe() for b in report.breaks]
    assert report.head_seq == WORKERS * EACH


@pytest.mark.slow
@pytest.mark.requirement("URS-AUD-006")
@pytest.mark.parametrize("backend", ["postgresql"])
def test_concurrent_changes_get_their_events_in_their_transactions_in_time_order(audited: Services) -> None:
    """8 writers, some failing after their event: one event per committed change, none else, time order = seq order."""
    with audited.engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {CHANGE_TABLE} (id VARCHAR(40) PRIMARY KEY)"))
    each, roll_back_every = 100, 7
    context = multiprocessing.get_context("fork")
    args = [(audited.settings.database_url, worker, each, roll_back_every) for worker in range(WORKERS)]
    processes = [context.Process(target=change_and_record, args=arg) for arg in args]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=240)
        assert process.exitcode == 0
    with audited.session_factory() as session:
        events = session.execute(
            select(AuditEvent.seq, AuditEvent.ts, AuditEvent.entity_id).order_by(AuditEvent.seq)
        ).all()
        changes = set(session.scalars(text(f"SELECT id FROM {CHANGE_TABLE}")))  # noqa: S608 - a constant
    committed = {f"{w}-{i}" for w in range(WORKERS) for i in range(each) if i % roll_back_every != roll_back_every - 1}
    assert changes == committed
    assert [e.entity_id for e in events if e.entity_id in committed] == [
        e.entity_id for e in events
    ]  # none rolled back
    assert sorted(e.entity_id for e in events) == sorted(committed)  # exactly one event per committed change
    assert [e.seq for e in events] == list(range(1, len(committed) + 1))  # no gaps
    assert all(a.ts <= b.ts for a, b in itertools.pairwise(events))  # a later seq never carries an earlier time
    report = verify_live(audited, deep=True)
    assert report.ok, [b.describe() for b in report.breaks]
