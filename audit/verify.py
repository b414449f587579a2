"""Verification of the LIVE chain against the spec and the external checkpoint log.

The fast path reads only the stored bytes (``canonical``) in seq order, in batches
concatenated by the database (``audit.streams``), and checks each batch with
whole-batch comparisons that run in C:

* the bytes' top-level ``prev`` equals ``H`` of the previous event's bytes. The
  top-level ``"prev":"`` is the LAST occurrence of that token: inside a JSON string
  every quote is escaped, and only ``reason`` (a string or null), ``seq`` and ``ts``
  follow it;
* the bytes end with ``"seq":<position>,"ts":"<27 chars>"}`` (keys are sorted and
  ``ts`` is last with a fixed width), so the events' own seqs run 1, 2, 3 …;
* every signed checkpoint's hash equals ``H`` of the event at its seq;
* at the end: the seq column holds exactly 1..n, the head's hash column equals ``H``
  of its bytes (the next append chains to that column), and no checkpoint lies
  beyond the head.

The truth is the bytes: the hash of an event is defined on them, so the hash and
prev columns need not be read on the fast path (an edit of one event's bytes breaks
the next event's link). Only at the first anomaly is a small window parsed to name
the kind of break. ``deep=True`` also compares every column copy with the bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audit.chain import EVENT_KEYS
from audit.checkpoint_check import check_checkpoints, read_log
from audit.checkpoints import CheckpointLog
from audit.findings import Break, BreakKind, ChainReport
from audit.merkle import LEAF_PREFIX, RootsAt, tree_root
from audit.models import AuditEvent
from audit.scan import Scan, scan
from audit.streams import changed_column_type, prefetched, stream_event_bytes, stream_rows
from audit.tree_store import DbSubtrees
from ebr.core.clock import to_rfc3339
from ebr.core.errors import AuditError

__all__ = ["Break", "BreakKind", "ChainReport", "Scan", "scan", "stream_rows", "verify_chain"]

Progress = Callable[[int], None]


def _parsed(data: Any) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except (ValueError, TypeError):
        return {}
    return obj if isinstance(obj, dict) else {}


def _window(session: Session, position: int) -> list[AuditEvent]:
    """The rows at positions ``position - 1`` … ``position + 4`` (in seq order)."""
    query = select(AuditEvent).order_by(AuditEvent.seq).offset(max(position - 2, 0)).limit(6)
    return list(session.scalars(query))


def _digest(data: Any) -> str | None:
    """``H(bytes)``, or None for a stored value that is not bytes."""
    return hashlib.sha256(data).hexdigest() if isinstance(data, bytes) else None


def diagnose(session: Session, *, position: int, prev_hash: str) -> Break:
    """Name the break found at ``position`` (1-based, in seq order) after the good hash ``prev_hash``."""
    window = _window(session, position)
    if position > 1:
        before = window.pop(0)
        if _digest(before.canonical) != before.hash:
            return Break(BreakKind.CONTENT_CHANGED, before.seq, "the stored bytes no longer match the event's hash")
    row, later = window[0], window[1:]
    seq = row.seq
    if seq != position:
        return Break(BreakKind.MISSING, position, f"events {position}..{seq - 1} are missing; the next is {seq}")
    if not isinstance(row.canonical, bytes):
        detail = f"the stored bytes were changed to {type(row.canonical).__name__}; restore them from a backup"
        return Break(BreakKind.TYPE_CHANGED, seq, detail)
    own = _parsed(row.canonical)
    own_seq = own.get("seq")
    claims = {_parsed(w.canonical).get("seq"): w.seq for w in later}
    if own_seq != seq:
        if isinstance(own_seq, int) and own_seq < seq:
            return Break(BreakKind.INSERTED, seq - 1, f"an extra event was inserted before event {own_seq}")
        if seq in claims:
            return Break(BreakKind.REORDERED, seq, f"event {own_seq} is stored at {seq}, event {seq} at {claims[seq]}")
        return Break(BreakKind.MISSING, seq, f"event {own_seq} is stored at {seq}: events before it were removed")
    nxt = _parsed(later[0].canonical) if later else {}
    if nxt.get("prev") == prev_hash and nxt.get("seq") == seq:
        return Break(BreakKind.INSERTED, seq, f"event {seq} does not belong to the chain: the next event links past it")
    if not later or _digest(row.canonical) != row.hash:
        # Nothing after it vouches for it, or its own hash column disagrees: the event
        # itself was forged or changed, not the intact one before it.
        detail = f"event {seq} does not chain to event {seq - 1}: it was forged or changed"
        return Break(BreakKind.CONTENT_CHANGED, seq, detail)
    changed = max(seq - 1, 1)
    return Break(BreakKind.CONTENT_CHANGED, changed, f"event {seq} does not chain to event {changed}: it was changed")


def _column_mismatch(row: AuditEvent, event: dict[str, Any]) -> str | None:
    """The name of the first column copy that disagrees with the event bytes, if any."""
    if set(event) != EVENT_KEYS:
        return "keys"
    copies = {
        "seq": row.seq,
        "ts": to_rfc3339(row.ts),
        "actor": row.actor,
        "action": row.action,
        "entity": {"type": row.entity_type, "id": row.entity_id},
        "reason": row.reason,
        "prev": row.prev,
    }
    if _digest(row.canonical) != row.hash:
        return "hash"
    return next((name for name, value in copies.items() if event.get(name) != value), None)


def _locate_rewrite(session: Session, lo: int, hi: int, expected_hash: str) -> Break:
    """A validly chained history that disagrees with a checkpoint was rewritten in ``lo..hi``.

    The searchable columns are copies the rewriter may have forgotten; compare them to
    narrow the location down to one event when possible.
    """
    after = session.scalars(select(AuditEvent).where(AuditEvent.seq == hi + 1)).first()
    if after is not None and _digest(after.canonical) == expected_hash:
        # The event the tree head signed now sits one place later: something was inserted before it.
        shifted = session.scalars(
            select(AuditEvent).where(AuditEvent.seq.between(lo, hi + 1)).order_by(AuditEvent.seq)
        ).all()
        moved = next((r.seq for r in shifted if _parsed(r.canonical).get("seq") == r.seq - 1), hi + 1)
        detail = f"an extra event was inserted at {moved - 1}: tree head {hi}'s event now sits at {hi + 1}"
        return Break(BreakKind.INSERTED, moved - 1, detail)
    for row in session.scalars(select(AuditEvent).where(AuditEvent.seq.between(lo, hi)).order_by(AuditEvent.seq)):
        name = _column_mismatch(row, _parsed(row.canonical))
        if name is not None:
            detail = f"rewritten with recomputed hashes; its {name} column still holds the original"
            return Break(BreakKind.CONTENT_CHANGED, row.seq, detail)
    detail = f"history in {lo}..{hi} was rewritten with recomputed hashes: checkpoint {hi} signed {expected_hash}"
    return Break(BreakKind.CONTENT_CHANGED, lo, detail)


DEEP_COLUMNS = "seq, ts, actor, action, entity_type, entity_id, reason, prev, hash, canonical"


def _ts_text(value: Any) -> str:
    """A ts column as the event's RFC 3339 text (SQLite hands back its stored text)."""
    if isinstance(value, dt.datetime):
        return to_rfc3339(value if value.tzinfo else value.replace(tzinfo=dt.UTC))
    return str(value).replace(" ", "T") + "Z"


def _copies_mismatch(row: tuple[Any, ...]) -> str | None:
    seq, ts, actor, action, entity_type, entity_id, reason, prev, hash_, data = row
    event = _parsed(data)
    copies = {
        "seq": seq,
        "actor": actor,
        "action": action,
        "entity": {"type": entity_type, "id": entity_id},
        "reason": reason,
        "prev": prev,
    }
    if set(event) != EVENT_KEYS:
        return "keys"
    if _digest(data) != hash_:
        return "hash"
    if event["ts"] != _ts_text(ts):
        return "ts"
    return next((name for name, value in copies.items() if event[name] != value), None)


def _deep_check(session: Session) -> Break | None:
    """Every searchable column copy against the bytes (they mislead searches when edited)."""
    with closing(stream_rows(session, columns=DEEP_COLUMNS)) as batches:
        for rows in batches:
            for row in rows:
                name = _copies_mismatch(row)
                if name is not None:
                    return Break(BreakKind.CONTENT_CHANGED, row[0], f"the {name} column differs from the event's bytes")
    return None


def _first_misnumbered(session: Session) -> int:
    """The first position whose seq column is not the position (the bytes there are intact)."""
    position = 0
    with closing(stream_rows(session, columns="seq")) as batches:
        for rows in batches:
            for (seq,) in rows:
                position += 1
                if seq != position:
                    return position
    return position + 1


def _check_head(session: Session, state: Scan, newest_checkpoint: int) -> Break | None:
    """After a clean scan: the seq column is exactly 1..n, the head's hash column is right, nothing is cut off."""
    count, low, high = session.execute(
        select(func.count(), func.coalesce(func.min(AuditEvent.seq), 0), func.coalesce(func.max(AuditEvent.seq), 0))
    ).one()
    if (low, high) != ((1, count) if count else (0, 0)) or state.seq != count:
        return Break(BreakKind.CONTENT_CHANGED, _first_misnumbered(session), f"the seq column runs {low}..{high}")
    if count:
        stored = session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == high))
        if stored != state.hash:
            return Break(BreakKind.CONTENT_CHANGED, high, "the stored bytes no longer match the event's hash")
    if newest_checkpoint > count:
        detail = f"events {count + 1}..{newest_checkpoint} are gone: a checkpoint signed event {newest_checkpoint}"
        return Break(BreakKind.TRUNCATED, count + 1, detail)
    return None


def _feeding(batches: Iterator[list[bytes]], roots: RootsAt) -> Iterator[list[bytes]]:
    """Pass the batches on, feeding their leaf hashes to ``roots`` (while they are all bytes)."""
    sha256 = hashlib.sha256
    feeding = bool(roots.wanted)
    for datas in batches:
        if feeding:
            try:
                roots.feed([sha256(LEAF_PREFIX + data).digest() for data in datas])
            except TypeError:
                feeding = False  # the scan locates the value that is not bytes
        yield datas


def _root_breaks(signed: dict[int, str], roots: RootsAt, good_upto: int) -> list[Break]:
    """Every signed tree head whose root is not the RFC 9162 root of the (chain-verified) events it covers."""
    found = []
    matched = 0
    for size in sorted(signed):
        if size > good_upto or size not in roots.roots:
            continue
        if roots.roots[size].hex() != signed[size]:
            detail = (
                f"tree head {size} is not consistent with tree head {matched}: its root is not the root of "
                f"events 1..{size}"
            )
            found.append(Break(BreakKind.INCONSISTENT, size, detail))
        else:
            matched = size
    return found


def _stored_root_breaks(session: Session, signed: dict[int, str], good_upto: int) -> list[Break]:
    """Every signed root against the stored Merkle tree (its nodes and the events' bytes of partial blocks)."""
    sizes = sorted(size for size in signed if size <= good_upto)
    if not sizes:
        return []
    try:
        computed = DbSubtrees(session).prepared(lambda src: [tree_root(src, size) for size in sizes])
    except AuditError as exc:
        return [Break(BreakKind.INCONSISTENT, sizes[0], f"the stored Merkle tree is incomplete: {exc}")]
    found = []
    for size, root in zip(sizes, computed, strict=True):
        if root.hex() != signed[size]:
            detail = f"tree head {size}'s root is not the root of the stored tree (its nodes were changed)"
            found.append(Break(BreakKind.INCONSISTENT, size, detail))
    return found


def verify_chain(
    session: Session,
    *,
    trusted_keys: dict[str, bytes],
    log: CheckpointLog,
    deep: bool = False,
    progress: Progress | None = None,
    retired: Mapping[str, dt.datetime] | None = None,
) -> ChainReport:
    """Verify the whole chain, every checkpoint and the external log; reports breaks, never raises on one.

    ``trusted_keys`` maps key_id to raw public key: the system keys from the key files,
    not from the database (which a tamperer could extend); ``retired`` maps a rotated
    key's id to when it stopped signing (a later checkpoint of it is a break). Run it in one snapshot
    (REPEATABLE READ on PostgreSQL; SQLite's transaction already is one).
    """
    logged, bad_lines = read_log(log)  # before the snapshot: see docs/audit.md
    checkpoints = check_checkpoints(session, log, logged, trusted_keys, retired)
    report = ChainReport(checkpoints_checked=checkpoints.count, breaks=[*bad_lines, *checkpoints.breaks])
    report.newest_checkpoint = max(checkpoints.by_seq, default=0)
    column = changed_column_type(session)
    if column is not None:
        detail = f"the canonical column's type was changed to {column}: restore the audit_event table from a backup"
        report.breaks.append(Break(BreakKind.TYPE_CHANGED, 1, detail))
        return report
    # The full RFC 9162 recomputation from the bytes doubles the cost of a run: it is the
    # deep check. By default the signed roots are checked against the stored tree.
    roots = RootsAt(list(checkpoints.roots) if deep else [])
    with closing(prefetched(stream_event_bytes(session))) as batches:
        state = scan(_feeding(batches, roots), checkpoints.by_seq, progress)
    report.head_seq, report.head_hash, report.events_checked = state.seq, state.hash, state.seq
    report.breaks.extend(_stored_root_breaks(session, checkpoints.roots, state.seq))
    if deep:
        report.breaks.extend(_root_breaks(checkpoints.roots, roots, state.seq))
    found: Break | None
    if state.wrong_type is not None:
        detail = f"the stored bytes were changed to {state.wrong_type}; restore the original bytes from a backup"
        found = Break(BreakKind.TYPE_CHANGED, state.anomaly or 0, detail)
    elif state.anomaly is not None:
        found = diagnose(session, position=state.anomaly, prev_hash=state.hash)
    elif state.checkpoint_mismatch is not None:
        hi = state.checkpoint_mismatch
        lo = max((s for s in checkpoints.by_seq if s < hi), default=0) + 1
        found = _locate_rewrite(session, lo, hi, checkpoints.by_seq[hi])
    else:
        found = _check_head(session, state, report.newest_checkpoint)
        if found is None and deep:
            found = _deep_check(session)
    if found is not None:
        report.breaks.append(found)
    return report
