"""Checking the segment since the previous tree head before a new one is signed.

A tree head seals what it covers, so it must never seal damage: the new events
must chain to the event the previous tree head signed, that event must still be
the one signed, the events up to the previous tree size must still give the root
signed then (RFC 9162 consistency: the old tree is a prefix of the new one), and
nothing may be cut off behind it.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from audit.merkle import tree_root
from audit.models import AuditCheckpoint, AuditEvent
from audit.scan import Scan, scan
from audit.tree_store import DbSubtrees, event_bytes_between, extend
from ebr.core.canonical import ZERO_HASH
from ebr.core.errors import AuditError


class SegmentBroken(AuditError):
    """The segment does not verify; ``seq`` is where it shows."""

    def __init__(self, seq: int, message: str) -> None:
        super().__init__(f"seq {seq}: {message}")
        self.seq = seq


def previous_tree_head(session: Session) -> AuditCheckpoint | None:
    """The newest stored tree head (v1 checkpoints have no root and do not count)."""
    return session.scalars(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.root_hash.is_not(None))
        .order_by(AuditCheckpoint.seq.desc(), AuditCheckpoint.id.desc())
        .limit(1)
    ).first()


_FIRST_GAP = text(
    "SELECT min(e.seq) + 1 FROM audit_event e WHERE e.seq < :top "
    "AND NOT EXISTS (SELECT 1 FROM audit_event n WHERE n.seq = e.seq + 1)"
)


def _first_missing(session: Session, top: int) -> int:
    """The first seq absent from 1..top (the failure path only: it reads the whole index)."""
    if session.scalar(select(func.min(AuditEvent.seq))) != 1:
        return 1
    gap = session.scalar(_FIRST_GAP, {"top": top})
    return int(gap) if gap is not None else top + 1


def _read(session: Session, first: int, last: int) -> list[bytes]:
    try:
        return event_bytes_between(session, first, last)
    except AuditError as exc:
        raise SegmentBroken(first, str(exc)) from None


def check_segment(session: Session, size: int) -> tuple[str, str]:
    """Verify events since the previous tree head up to ``size``; store the tree's nodes; return (root, head hash).

    Raises SegmentBroken when anything in the segment does not verify.
    """
    count, top = session.execute(select(func.count(), func.coalesce(func.max(AuditEvent.seq), 0))).one()
    if (count, top) != (size, size):
        missing = _first_missing(session, top)
        raise SegmentBroken(missing, f"event {missing} is missing (the seq column holds {count} events up to {top})")
    previous = previous_tree_head(session)
    old = previous.seq if previous is not None else 0
    if old > size:
        raise SegmentBroken(size + 1, f"events {size + 1}..{old} are gone: tree head {old} was signed over them")
    datas = _read(session, max(old, 1), size)
    start = Scan()
    segment = datas
    if old:
        start = Scan(seq=old, hash=hashlib.sha256(datas[0]).hexdigest())
        segment = datas[1:]
        if previous is not None and start.hash != previous.hash:
            raise SegmentBroken(old, f"event {old} is no longer the event tree head {old} signed (it was changed)")
    state = scan(iter([segment]), {}, start=start)
    if state.anomaly is not None:
        raise SegmentBroken(state.anomaly, f"event {state.anomaly} does not chain to event {state.anomaly - 1}")
    stored = session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == size))
    if stored != state.hash or (size == 0 and state.hash != ZERO_HASH):
        raise SegmentBroken(size, "the head's hash column differs from the hash of its bytes")
    extend(session, size, datas, max(old, 1))
    try:
        old_root, root = DbSubtrees(session).prepared(lambda src: (tree_root(src, old), tree_root(src, size)))
        if previous is not None and old_root.hex() != previous.root_hash:
            raise SegmentBroken(old, f"events 1..{old} no longer give the root tree head {old} signed (rewritten)")
        return root.hex(), state.hash
    except SegmentBroken:
        raise
    except AuditError as exc:
        raise SegmentBroken(old or 1, str(exc)) from None
