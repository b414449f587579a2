"""Signed tree heads (RFC 9162 roots) and the tail: on a timer, at release, never over a broken segment."""

from __future__ import annotations

import hashlib
import json

import pytest
from pymerkle import InmemoryTree
from sqlalchemy import select, text

from audit.chain import Entity
from audit.checkpoints import REFUSED_ACTION, CheckpointLog, TreeHead, TreeHeadRefused, parse_checkpoint, sign_tree_head
from audit.findings import BreakKind
from audit.keys import load_system_key
from audit.models import AuditCheckpoint, AuditEvent
from ebr.bootstrap import Services, build_services
from ebr.core.clock import to_rfc3339
from ebr.core.config import Settings
from ebr.jobs.definitions import builtin_jobs
from ebr.trail import services as audit_service
from ebr.trail.services import ensure_system_key
from signatures.alerts import LogNotifier
from tests.integration.audit.conftest import Append, drop_append_only_triggers

pytestmark = pytest.mark.requirement("URS-AUD-004", "URS-AUD-021")


def _events(services: Services) -> list[bytes]:
    with services.session_factory() as session:
        return [bytes(b) for b in session.scalars(select(AuditEvent.canonical).order_by(AuditEvent.seq))]


def _heads(services: Services) -> list[TreeHead]:
    lines = [parse_checkpoint(line) for _, line in CheckpointLog(services.settings.checkpoint_log_dir).lines()]
    return [head for head in lines if isinstance(head, TreeHead)]


def _refusals(services: Services) -> list[dict[str, object]]:
    with services.session_factory() as session:
        rows = session.scalars(select(AuditEvent.canonical).where(AuditEvent.action == REFUSED_ACTION))
        return [json.loads(row)["after"] for row in rows]


def _tamper(services: Services, seq: int) -> None:
    """Change one recorded value behind the application's back (its hash column left as it was)."""
    with services.engine.begin() as conn:
        drop_append_only_triggers(conn)
        data = bytes(conn.execute(text("SELECT canonical FROM audit_event WHERE seq = :s"), {"s": seq}).scalar_one())
        forged = data.replace(b'.0"},"before"', b'.5"},"before"')
        assert forged != data
        conn.execute(text("UPDATE audit_event SET canonical = :c WHERE seq = :s"), {"c": forged, "s": seq})


def test_tree_heads_sign_the_rfc_9162_root_of_the_events_they_cover(audited: Services, append: Append) -> None:
    append(12)
    heads = _heads(audited)
    assert [h.tree_size for h in heads] == [5, 10]
    reference = InmemoryTree(algorithm="sha256")
    for data in _events(audited):
        reference.append_entry(data)
    key = load_system_key(audited.settings.keys_dir)
    assert key is not None
    for head in heads:
        assert head.root_hash == reference.get_root(head.tree_size).hex()
        assert head.verifies(key.public_raw)
    with audited.session_factory() as session:
        roots = session.execute(select(AuditCheckpoint.seq, AuditCheckpoint.root_hash).order_by(AuditCheckpoint.id))
        assert [(s, r) for s, r in roots] == [(h.tree_size, h.root_hash) for h in heads]


def test_the_timer_signs_a_tree_head_only_when_events_were_appended(audited: Services, append: Append) -> None:
    append(7)
    made = audit_service.sign_tree_head_if_new(audited)
    assert made is not None
    assert made.tree_size == 7
    assert audit_service.sign_tree_head_if_new(audited) is None
    assert [h.tree_size for h in _heads(audited)] == [5, 7]
    every = {spec.name: spec.every.total_seconds() for spec in builtin_jobs({})}
    assert every["audit_tree_head"] == 60
    tuned = {spec.name: spec.every.total_seconds() for spec in builtin_jobs({"EBR_CHECKPOINT_SECONDS": "15"})}
    assert tuned["audit_tree_head"] == 15


def test_a_deleted_tail_behind_the_timers_tree_head_is_found_and_never_sealed(
    audited: Services, append: Append
) -> None:
    append(8)
    audit_service.sign_tree_head_if_new(audited)  # the tail 6..8 is now covered (head at 8)
    with audited.engine.begin() as conn:
        drop_append_only_triggers(conn)
        conn.execute(text("DELETE FROM audit_event WHERE seq > 6"))
    report = audit_service.verify_live(audited)
    assert report.first is not None
    assert (report.first.kind, report.first.seq) == (BreakKind.TRUNCATED, 7)
    with pytest.raises(TreeHeadRefused, match=r"are gone: tree head 8 was signed over them"):
        audit_service.sign_tree_head(audited)


def test_a_tree_head_over_a_changed_event_is_refused_alerted_and_audited(audited: Services, append: Append) -> None:
    append(7)
    _tamper(audited, 3)
    with pytest.raises(TreeHeadRefused, match=r"seq 5: events 1\.\.5 no longer give the root tree head 5 signed"):
        audit_service.sign_tree_head(audited)
    assert [h.tree_size for h in _heads(audited)] == [5], "nothing was sealed"
    notifier = audited.users.notifier
    assert isinstance(notifier, LogNotifier)
    assert [event for event, _ in notifier.sent] == ["audit.tree_head.refused"]
    assert [r["seq"] for r in _refusals(audited)] == [5]


def test_a_refused_periodic_tree_head_does_not_fail_the_change_that_triggered_it(
    audited: Services, append: Append
) -> None:
    append(6)
    _tamper(audited, 6)  # after the head at 5: the chain itself breaks at 6's hash
    append(4)  # event 10 would be sealed
    with audited.session_factory() as session:
        assert session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1)) == 11
    assert [h.tree_size for h in _heads(audited)] == [5]
    refusals = _refusals(audited)
    assert [r["seq"] for r in refusals] == [7]
    assert "event 7 does not chain to event 6" in str(refusals[0]["problem"])


def test_a_smaller_tree_head_signed_later_is_a_cut_back_even_with_the_real_key(
    audited: Services, append: Append
) -> None:
    """A cut-back log (a smaller tree head signed later) is an inconsistency, even with the real key."""
    append(6)
    key = load_system_key(audited.settings.keys_dir)
    assert key is not None
    genuine = _heads(audited)[0]
    later = to_rfc3339(audited.clock.now())
    cut = sign_tree_head(key, tree_size=4, root_hash=genuine.root_hash, head_hash=genuine.head_hash, ts=later)
    CheckpointLog(audited.settings.checkpoint_log_dir).append([cut.line()])
    report = audit_service.verify_live(audited)
    kinds = {(b.kind, b.seq) for b in report.breaks}
    assert (BreakKind.INCONSISTENT, 5) in kinds, [b.describe() for b in report.breaks]


def test_a_changed_merkle_node_is_found_against_the_signed_root(audited: Services, append: Append) -> None:
    append(130)  # two whole blocks of 64: their nodes are stored
    with audited.engine.begin() as conn:
        drop_append_only_triggers(conn)
        if conn.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER audit_tree_node_append_only ON audit_tree_node"))
        else:
            conn.execute(text("DROP TRIGGER audit_tree_node_no_update"))
        conn.execute(text("UPDATE audit_tree_node SET hash = :h WHERE level = 6 AND idx = 0"), {"h": bytes(32)})
    report = audit_service.verify_live(audited)
    assert report.first is not None
    assert (report.first.kind, report.first.seq) == (BreakKind.INCONSISTENT, 65), [b.describe() for b in report.breaks]


def test_the_deep_check_recomputes_every_signed_root_from_the_events(audited: Services, append: Append) -> None:
    append(12)
    key = load_system_key(audited.settings.keys_dir)
    assert key is not None
    head12 = hashlib.sha256(_events(audited)[11]).hexdigest()
    wrong = sign_tree_head(key, tree_size=12, root_hash="ab" * 32, head_hash=head12, ts=to_rfc3339(audited.clock.now()))
    CheckpointLog(audited.settings.checkpoint_log_dir).append([wrong.line()])
    deep = audit_service.verify_live(audited, deep=True)
    assert any(b.kind == BreakKind.INCONSISTENT and "not the root of events 1..12" in b.detail for b in deep.breaks)
    assert not any("not the root of events" in b.detail for b in audit_service.verify_live(audited).breaks)


def test_the_first_tree_head_over_a_long_trail_is_left_to_the_timer(settings: Settings) -> None:
    built = build_services(settings.with_overrides(checkpoint_every=5))
    try:
        for i in range(60):  # written before `ebr init`: no key, no tree head
            with built.session_factory.begin() as session:
                built.audit.record(session, actor="alice", action="batch.created", entity=Entity("batch", f"B-{i}"))
        ensure_system_key(built)
        for i in range(5):  # event 65 would be sealed, but 65 events is a long first segment for every=5
            with built.session_factory.begin() as session:
                built.audit.record(session, actor="alice", action="batch.created", entity=Entity("batch", f"C-{i}"))
        assert _heads(built) == []
        made = audit_service.sign_tree_head_if_new(built)
        assert made is not None
        assert [h.tree_size for h in _heads(built)] == [65]
    finally:
        built.close()
