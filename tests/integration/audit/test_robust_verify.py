"""Robust verification (issue 16 point 7): a changed type or encoding of the stored bytes, a forged append."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from audit.chain import Entity, build_event, event_bytes, event_hash
from audit.findings import BreakKind
from ebr.bootstrap import Services
from ebr.core.canonical import sha256_hex
from ebr.trail.services import verify_live
from tests.integration.audit.conftest import Append, drop_append_only_triggers

pytestmark = pytest.mark.requirement("URS-AUD-003")


def _first(services: Services) -> tuple[BreakKind, int, str]:
    report = verify_live(services)
    assert not report.ok
    first = report.first
    assert first is not None
    return first.kind, first.seq, first.detail


@pytest.mark.parametrize("backend", ["sqlite"])  # a PostgreSQL bytea value cannot be text: see the next test
def test_bytes_turned_into_text_on_sqlite_are_reported_at_their_seq(audited: Services, append: Append) -> None:
    append(8)
    with audited.engine.begin() as conn:
        drop_append_only_triggers(conn)
        conn.execute(text("UPDATE audit_event SET canonical = CAST(canonical AS TEXT) WHERE seq = 4"))
    kind, seq, detail = _first(audited)
    assert (kind, seq) == (BreakKind.TYPE_CHANGED, 4)
    assert "changed to str" in detail


@pytest.mark.parametrize("backend", ["postgresql"])  # SQLite's columns have no fixed type: see the test above
def test_a_column_changed_to_text_on_postgresql_is_reported(audited: Services, append: Append) -> None:
    append(6)
    with audited.engine.begin() as conn:
        conn.execute(
            text("ALTER TABLE audit_event ALTER COLUMN canonical TYPE text USING convert_from(canonical, 'UTF8')")
        )
    kind, seq, detail = _first(audited)
    assert (kind, seq) == (BreakKind.TYPE_CHANGED, 1)
    assert "text" in detail


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig"])
def test_bytes_re_encoded_are_reported_at_their_seq(audited: Services, append: Append, encoding: str) -> None:
    append(8)
    with audited.engine.begin() as conn:
        drop_append_only_triggers(conn)
        data = bytes(conn.execute(text("SELECT canonical FROM audit_event WHERE seq = 5")).scalar_one())
        recoded = data.decode("utf-8").encode(encoding)
        conn.execute(text("UPDATE audit_event SET canonical = :c WHERE seq = 5"), {"c": recoded})
    kind, seq, _ = _first(audited)
    assert (kind, seq) == (BreakKind.CONTENT_CHANGED, 5)


def _forge_append(services: Services, *, chained: bool) -> int:
    with services.engine.begin() as conn:
        seq, hash_ = conn.execute(text("SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1")).one()
        prev = hash_ if chained else sha256_hex(b"not the head")
        when = services.clock.now()
        event = build_event(
            seq=seq + 1, ts=when, actor="mallory", action="batch.released", entity=Entity("batch", "B-1"),
            reason="forged", before=None, after={"status": "released"}, prev=prev,
        )  # fmt: skip
        data = event_bytes(event)
        conn.execute(
            text(
                "INSERT INTO audit_event"
                " (seq, ts, actor, action, entity_type, entity_id, reason, prev, hash, canonical)"
                " VALUES (:seq, :ts, 'mallory', 'batch.released', 'batch', 'B-1', 'forged', :prev, :hash, :data)"
            ),
            {"seq": seq + 1, "ts": when, "prev": prev, "hash": event_hash(data), "data": data},
        )
    return int(seq) + 1


def test_a_forged_append_is_blamed_on_the_forged_event_not_the_genuine_one_before_it(
    audited: Services, append: Append
) -> None:
    append(7)
    forged = _forge_append(audited, chained=False)
    kind, seq, detail = _first(audited)
    assert (kind, seq) == (BreakKind.CONTENT_CHANGED, forged)
    assert f"event {forged} does not chain to event {forged - 1}: it was forged or changed" in detail
