"""Checkpoints: signed heads, every N events and on demand, in the database and the external log."""

from __future__ import annotations

import os
import stat

import pytest
from sqlalchemy import select

from audit.chain import Entity
from audit.checkpoints import CheckpointLog, database_checkpoints, parse_checkpoint
from audit.keys import load_system_key, system_key_path
from audit.models import AuditSystemKey
from ebr.bootstrap import Services
from ebr.core.errors import AuditError
from ebr.trail.services import ensure_system_key
from tests.integration.audit.conftest import Append

pytestmark = pytest.mark.requirement("URS-AUD-004")


def test_init_creates_a_private_system_key_file_and_registers_only_its_public_half(audited: Services) -> None:
    keys_dir = audited.settings.keys_dir
    path = system_key_path(keys_dir)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(keys_dir).st_mode) == 0o700
    key = load_system_key(keys_dir)
    assert key is not None
    with audited.session_factory() as session:
        rows = session.scalars(select(AuditSystemKey)).all()
    assert [row.key_id for row in rows] == [key.key_id]
    assert "created" not in ensure_system_key(audited)  # a second init keeps the same key
    again = load_system_key(keys_dir)
    assert again is not None
    assert again.key_id == key.key_id


def test_a_checkpoint_is_made_every_n_events_and_logged_outside_the_database(audited: Services, append: Append) -> None:
    append(11)
    with audited.session_factory() as session:
        stored = [(row.seq, row.line) for row in database_checkpoints(session)]
    logged = [line for _, line in CheckpointLog(audited.settings.checkpoint_log_dir).lines()]
    assert [seq for seq, _ in stored] == [5, 10]
    assert [bytes(line) for _, line in stored] == logged
    key = load_system_key(audited.settings.keys_dir)
    assert key is not None
    assert all(parse_checkpoint(line).verifies(key.public_raw) for line in logged)


def test_a_rolled_back_checkpoint_never_reaches_the_log(audited: Services, append: Append) -> None:
    append(4)
    with pytest.raises(RuntimeError), audited.session_factory.begin() as session:
        audited.audit.record(session, actor="alice", action="x.done", entity=Entity("x", "5"))
        raise RuntimeError("the business change failed")
    assert list(CheckpointLog(audited.settings.checkpoint_log_dir).lines()) == []
    append(1)
    assert [parse_checkpoint(line).seq for _, line in CheckpointLog(audited.settings.checkpoint_log_dir).lines()] == [5]


def test_an_on_demand_checkpoint_signs_the_current_head(audited: Services, append: Append) -> None:
    append(3)
    assert audited.checkpointer is not None
    with audited.session_factory.begin() as session:
        made = audited.checkpointer.checkpoint(session)
    assert made.seq == 3
    assert [parse_checkpoint(line) for _, line in CheckpointLog(audited.settings.checkpoint_log_dir).lines()] == [made]


def test_checkpointing_without_a_system_key_says_to_run_init(services: Services) -> None:
    assert services.checkpointer is not None
    with pytest.raises(AuditError, match="ebr init"), services.session_factory.begin() as session:
        services.audit.record(session, actor="a", action="x.done", entity=Entity("x", "1"))
        services.checkpointer.checkpoint(session)


def test_a_checkpoint_in_a_rolled_back_savepoint_never_reaches_the_log(audited: Services, append: Append) -> None:
    append(4)
    with audited.session_factory.begin() as session:
        savepoint = session.begin_nested()
        audited.audit.record(session, actor="alice", action="x.done", entity=Entity("x", "5"))
        savepoint.rollback()
        audited.audit.record(session, actor="alice", action="x.done", entity=Entity("x", "5b"))
    logged = [parse_checkpoint(line) for _, line in CheckpointLog(audited.settings.checkpoint_log_dir).lines()]
    with audited.session_factory() as session:
        stored = [row.line for row in database_checkpoints(session)]
    assert [c.seq for c in logged] == [5]
    assert [c.line() for c in logged] == [bytes(line) for line in stored]
