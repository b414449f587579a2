"""Tampering behind the application's back (raw SQL, triggers dropped) is found and located."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Connection, select, text

from audit.chain import Entity, build_event, event_bytes, event_hash
from audit.checkpoints import CheckpointLog
from audit.models import AuditEvent
from audit.verify import BreakKind, ChainReport
from ebr.bootstrap import Services
from ebr.core.canonical import canon, sha256_hex
from ebr.core.clock import from_rfc3339
from ebr.trail.services import verify_live
from tests.integration.audit.conftest import Append, drop_append_only_triggers

pytestmark = pytest.mark.requirement("URS-AUD-003")


def _attack(services: Services, *statements: tuple[str, dict[str, object]]) -> None:
    with services.engine.begin() as conn:
        drop_append_only_triggers(conn)
        for sql, params in statements:
            conn.execute(text(sql), params)


def _row(conn: Connection, seq: int) -> tuple[str, str, bytes]:
    prev, hash_, data = conn.execute(
        text("SELECT prev, hash, canonical FROM audit_event WHERE seq = :s"), {"s": seq}
    ).one()
    return prev, hash_, bytes(data)


def _verify(services: Services) -> ChainReport:
    report = verify_live(services)
    assert not report.ok
    return report


def _first(report: ChainReport) -> tuple[BreakKind, int]:
    first = report.first
    assert first is not None
    return first.kind, first.seq


def test_an_intact_chain_verifies_and_the_run_is_itself_audited(audited: Services, append: Append) -> None:
    append(12)
    report = verify_live(audited, actor="alice")
    assert report.ok, [b.describe() for b in report.breaks]
    assert (report.head_seq, report.events_checked, report.newest_checkpoint) == (12, 12, 10)
    with audited.session_factory() as session:
        last = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert last is not None
    assert (last.seq, last.actor, last.action) == (13, "alice", "audit.chain.verified")
    assert json.loads(last.canonical)["after"]["ok"] is True


def test_a_changed_field_is_found_at_its_seq(audited: Services, append: Append) -> None:
    append(12)
    with audited.engine.connect() as conn:
        _, _, data = _row(conn, 7)
    forged = data.replace(b'"value":"256.0"', b'"value":"266.0"')
    assert forged != data
    _attack(audited, ("UPDATE audit_event SET canonical = :b WHERE seq = 7", {"b": forged}))
    assert _first(_verify(audited)) == (BreakKind.CONTENT_CHANGED, 7)


def test_a_deleted_row_is_found_as_missing(audited: Services, append: Append) -> None:
    append(12)
    _attack(audited, ("DELETE FROM audit_event WHERE seq = 7", {}))
    assert _first(_verify(audited)) == (BreakKind.MISSING, 7)


def test_a_deleted_row_hidden_by_renumbering_is_found_as_missing(audited: Services, append: Append) -> None:
    append(12)
    _attack(
        audited,
        ("DELETE FROM audit_event WHERE seq = 7", {}),
        ("UPDATE audit_event SET seq = -(seq - 1) WHERE seq > 7", {}),
        ("UPDATE audit_event SET seq = -seq WHERE seq < 0", {}),
    )
    assert _first(_verify(audited)) == (BreakKind.MISSING, 7)


def test_an_inserted_row_is_found_where_it_was_slipped_in(audited: Services, append: Append) -> None:
    append(12)
    with audited.engine.connect() as conn:
        _, prev, _ = _row(conn, 6)
    event = build_event(
        seq=7,
        ts=from_rfc3339("2026-11-24T10:00:00.000000Z"),
        actor="mallory",
        action="batch.step.value_recorded",
        entity=Entity("batch", "B-0"),
        reason="backdated",
        before=None,
        after={"value": "250.0"},
        prev=prev,
    )
    data = event_bytes(event)
    _attack(
        audited,
        ("UPDATE audit_event SET seq = -(seq + 1) WHERE seq >= 7", {}),
        ("UPDATE audit_event SET seq = -seq WHERE seq < 0", {}),
        (
            "INSERT INTO audit_event (seq, ts, actor, action, entity_type, entity_id, reason, prev, hash, canonical) "
            "VALUES (7, :ts, 'mallory', 'batch.step.value_recorded', 'batch', 'B-0', 'backdated', :prev, :hash, :data)",
            {"ts": "2026-11-24 10:00:00.000000", "prev": prev, "hash": event_hash(data), "data": data},
        ),
    )
    assert _first(_verify(audited)) == (BreakKind.INSERTED, 7)


def test_two_swapped_rows_are_found_as_reordered(audited: Services, append: Append) -> None:
    append(12)
    _attack(
        audited,
        ("UPDATE audit_event SET seq = -7 WHERE seq = 7", {}),
        ("UPDATE audit_event SET seq = 7 WHERE seq = 8", {}),
        ("UPDATE audit_event SET seq = 8 WHERE seq = -7", {}),
    )
    assert _first(_verify(audited)) == (BreakKind.REORDERED, 7)


def test_a_truncated_tail_is_found_against_the_newest_checkpoint(audited: Services, append: Append) -> None:
    append(12)
    _attack(audited, ("DELETE FROM audit_event WHERE seq >= 9", {}))
    assert _first(_verify(audited)) == (BreakKind.TRUNCATED, 9)


def test_a_truncated_tail_with_its_checkpoints_deleted_is_found_through_the_external_log(
    audited: Services, append: Append
) -> None:
    append(12)
    _attack(
        audited,
        ("DELETE FROM audit_event WHERE seq >= 9", {}),
        ("DELETE FROM audit_checkpoint WHERE seq >= 9", {}),
    )
    report = _verify(audited)
    assert _first(report) == (BreakKind.TRUNCATED, 9)
    assert any(b.kind == BreakKind.CHECKPOINT_MISSING and b.seq == 10 for b in report.breaks)


def _rechain(audited: Services, edited: int, edit: bytes, into: bytes) -> None:
    """Edit one event and recompute every later hash, prev and bytes: a careful forger."""
    with audited.engine.connect() as conn:
        head = conn.execute(text("SELECT max(seq) FROM audit_event")).scalar_one()
        rows = {seq: _row(conn, seq) for seq in range(edited, head + 1)}
    statements: list[tuple[str, dict[str, object]]] = []
    prev_hash = rows[edited][0]
    for seq in range(edited, head + 1):
        event = json.loads(rows[seq][2])
        if seq == edited:
            event = json.loads(rows[seq][2].replace(edit, into))
        event["prev"] = prev_hash
        data = canon(event)
        prev_hash = sha256_hex(data)
        statements.append(
            (
                "UPDATE audit_event SET canonical = :d, hash = :h, prev = :p WHERE seq = :s",
                {"d": data, "h": prev_hash, "p": event["prev"], "s": seq},
            )
        )
    _attack(audited, *statements)


def test_an_edit_with_every_later_hash_recomputed_is_found_between_checkpoints(
    audited: Services, append: Append
) -> None:
    append(12)
    _rechain(audited, 7, b'"value":"256.0"', b'"value":"266.0"')
    report = _verify(audited)
    kind, seq = _first(report)
    first = report.first
    assert first is not None
    assert (kind, seq) == (BreakKind.CONTENT_CHANGED, 6)  # the checkpoints at 5 and 10 bracket it
    assert "6..10" in first.detail


def test_a_recomputed_edit_of_a_searchable_field_is_located_exactly(audited: Services, append: Append) -> None:
    append(12)
    _rechain(audited, 7, b'"actor":"alice"', b'"actor":"bob"')
    assert _first(_verify(audited)) == (BreakKind.CONTENT_CHANGED, 7)


def test_an_altered_checkpoint_in_the_log_is_a_bad_checkpoint_signature(audited: Services, append: Append) -> None:
    append(12)
    log = CheckpointLog(audited.settings.checkpoint_log_dir)
    with audited.engine.connect() as conn:
        _, hash7, _ = _row(conn, 7)
    lines = [json.loads(line) for _, line in log.lines()]
    lines[0]["head_hash"], lines[0]["tree_size"] = hash7, 7
    log.path.write_bytes(b"".join(canon(obj) + b"\n" for obj in lines))
    report = _verify(audited)
    assert any(b.kind == BreakKind.BAD_CHECKPOINT and b.seq == 7 for b in report.breaks)
    assert _first(report)[1] == 5  # the genuine checkpoint at 5 is now missing from the log


def test_an_altered_checkpoint_in_the_database_is_found(audited: Services, append: Append) -> None:
    append(12)
    with audited.engine.connect() as conn:
        line = bytes(conn.execute(text("SELECT line FROM audit_checkpoint WHERE seq = 10")).scalar_one())
    forged = line.replace(b'"tree_size":10', b'"tree_size":11')
    _attack(audited, ("UPDATE audit_checkpoint SET line = :l, seq = 11 WHERE seq = 10", {"l": forged}))
    report = _verify(audited)
    assert any(b.kind == BreakKind.BAD_CHECKPOINT and b.seq == 11 for b in report.breaks)
    assert any(b.kind == BreakKind.CHECKPOINT_MISSING and b.seq == 10 for b in report.breaks)


def test_a_deleted_checkpoint_is_found(audited: Services, append: Append) -> None:
    append(12)
    _attack(audited, ("DELETE FROM audit_checkpoint WHERE seq = 5", {}))
    assert _first(_verify(audited)) == (BreakKind.CHECKPOINT_MISSING, 5)


@pytest.mark.parametrize(
    ("column", "value"),
    [("actor", "'mallory'"), ("action", "'x.y'"), ("entity_id", "'B-9'"), ("reason", "NULL"), ("hash", "'ab'")],
)
def test_an_edited_search_column_is_found_by_the_deep_check(
    audited: Services, append: Append, column: str, value: str
) -> None:
    append(6)
    _attack(audited, (f"UPDATE audit_event SET {column} = {value} WHERE seq = 4", {}))  # noqa: S608 - test constants
    report = verify_live(audited, deep=True)
    first = report.first
    assert first is not None
    assert (first.kind, first.seq) == (BreakKind.CONTENT_CHANGED, 4)
    assert f"the {column if column != 'entity_id' else 'entity'} column" in first.detail


def test_the_deep_check_passes_an_intact_chain(audited: Services, append: Append) -> None:
    append(6)
    report = verify_live(audited, deep=True)
    assert report.ok, [b.describe() for b in report.breaks]


def test_a_raw_newline_slipped_into_an_event_is_found_at_its_seq(audited: Services, append: Append) -> None:
    append(12)
    with audited.engine.connect() as conn:
        _, _, data = _row(conn, 7)
    forged = data.replace(b'"unit":"L"', b'"unit":"L\n"')
    _attack(audited, ("UPDATE audit_event SET canonical = :b WHERE seq = 7", {"b": forged}))
    assert _first(_verify(audited)) == (BreakKind.CONTENT_CHANGED, 7)


def test_a_renumbered_head_is_found(audited: Services, append: Append) -> None:
    append(12)
    _attack(audited, ("UPDATE audit_event SET seq = 20 WHERE seq = 12", {}))
    report = _verify(audited)
    first = report.first
    assert first is not None
    assert (first.kind, first.seq) == (BreakKind.CONTENT_CHANGED, 12)
    assert "seq column" in first.detail
