"""Appending events in the caller's transaction."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select

from audit.chain import Entity
from audit.models import AuditEvent
from ebr.bootstrap import Services
from ebr.core.canonical import ZERO_HASH, sha256_hex
from ebr.core.clock import UTC, FixedClock, to_rfc3339


@pytest.mark.requirement("URS-AUD-001")
def test_events_chain_and_keep_their_exact_bytes(services: Services) -> None:
    with services.session_factory.begin() as session:
        first = services.audit.record(
            session, actor="alice", action="batch.created", entity=Entity("batch", "B-1"), after={"size": "250.0"}
        )
        second = services.audit.record(
            session,
            actor="alice",
            action="batch.size_changed",
            entity=Entity("batch", "B-1"),
            before={"size": "250.0"},
            after={"size": "300.0"},
            reason="order changed",
        )
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev == ZERO_HASH
    assert second.prev == first.hash
    assert sha256_hex(second.canonical) == second.hash
    assert b'"reason":"order changed"' in second.canonical


@pytest.mark.requirement("URS-AUD-006")
def test_a_rolled_back_transaction_leaves_no_trace_and_no_gap(services: Services) -> None:
    with services.session_factory.begin() as session:
        services.audit.record(session, actor="a", action="x.done", entity=Entity("x", "1"))
    with pytest.raises(RuntimeError), services.session_factory.begin() as session:
        services.audit.record(session, actor="a", action="x.done", entity=Entity("x", "2"))
        raise RuntimeError("the business change failed")
    with services.session_factory.begin() as session:
        third = services.audit.record(session, actor="a", action="x.done", entity=Entity("x", "3"))
    assert third.seq == 2
    with services.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 2


@pytest.mark.requirement("URS-AUD-001")
def test_the_stored_columns_read_back_exactly_as_the_hashed_event_says(services: Services) -> None:
    services.audit.clock = FixedClock(dt.datetime(2026, 11, 24, 20, 0, 0, 0, tzinfo=UTC))
    with services.session_factory.begin() as session:
        written = services.audit.record(
            session, actor="ännä", action="batch.created", entity=Entity("batch", "B-ü"), reason="näh"
        )
    with services.session_factory() as session:
        row = session.get(AuditEvent, written.seq)
    assert row is not None
    event = json.loads(row.canonical)
    assert (row.ts, row.actor, row.entity_id, row.reason) == (written.ts, "ännä", "B-ü", "näh")
    assert event["ts"] == to_rfc3339(row.ts) == "2026-11-24T20:00:00.000000Z"
    assert (row.hash, row.prev) == (written.hash, written.prev)
