"""Verification of the LIVE chain against the spec and the external checkpoint log.

The fast path streams ``(seq, prev, hash, canonical)`` straight from the driver and,
per event, hashes the stored bytes and checks three things without parsing JSON:

* ``H(canonical) == hash`` column (content unchanged);
* the column ``seq`` runs 1, 2, 3 … and the bytes end with ``"seq":<seq>,"ts":"<27>"}``.
  Canonical keys are sorted and ``ts`` is the last key with a fixed-width value, so
  this pins the event's own ``seq``;
* the bytes' top-level ``prev`` equals the previous event's hash. The top-level
  ``"prev":"`` is the LAST occurrence of that token: inside a JSON string every quote
  is escaped, and only ``reason`` (a string or null), ``seq`` and ``ts`` follow it.

Because every hash commits to its predecessor, these checks plus the signed
checkpoints cover the whole history. Only at the first anomaly is a small window
parsed to name the kind of break. ``deep=True`` also parses every event and compares
the searchable column copies (ts, actor, action, entity, reason) with the bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.chain import EVENT_KEYS
from audit.checkpoints import Checkpoint, CheckpointLog, database_checkpoints, parse_checkpoint
from audit.models import AuditEvent
from audit.trail import head
from ebr.canonical import ZERO_HASH
from ebr.clock import to_rfc3339
from ebr.errors import AuditError

BATCH = 20_000
TS_TAIL = 29  # len('2026-11-24T10:00:00.000000Z"}')
PREV_TOKEN = b'"prev":"'
Row = tuple[int, str, str, bytes]
Progress = Callable[[int], None]


class BreakKind(StrEnum):
    CONTENT_CHANGED = "content changed"
    MISSING = "missing"
    INSERTED = "inserted"
    REORDERED = "reordered"
    TRUNCATED = "truncated"
    BAD_CHECKPOINT = "bad checkpoint signature"
    CHECKPOINT_MISSING = "checkpoint missing"


@dataclass(frozen=True)
class Break:
    """One finding: the first seq where it shows, what kind it is, and the evidence."""

    kind: BreakKind
    seq: int
    detail: str

    def describe(self) -> str:
        return f"seq {self.seq}: {self.kind}: {self.detail}"


@dataclass
class ChainReport:
    """The outcome of a verification run."""

    head_seq: int = 0
    head_hash: str = ZERO_HASH
    events_checked: int = 0
    checkpoints_checked: int = 0
    newest_checkpoint: int = 0
    breaks: list[Break] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaks

    @property
    def first(self) -> Break | None:
        return min(self.breaks, key=lambda b: b.seq) if self.breaks else None

    def summary(self) -> dict[str, Any]:
        first = self.first
        return {
            "ok": self.ok,
            "head_seq": self.head_seq,
            "events_checked": self.events_checked,
            "checkpoints_checked": self.checkpoints_checked,
            "first_broken_seq": first.seq if first else None,
            "kind": str(first.kind) if first else None,
        }


def stream_rows(session: Session, *, start: int = 1, batch: int = BATCH) -> Generator[list[Row], None, None]:
    """Batches of ``(seq, prev, hash, canonical)`` from ``start`` on, in seq order.

    Uses the driver directly (a server-side cursor on PostgreSQL) because building an
    ORM row per event would cost more than hashing it.
    """
    sql = "SELECT seq, prev, hash, canonical FROM audit_event WHERE seq >= %s ORDER BY seq"
    connection = session.connection()
    driver: Any = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        with driver.cursor(name="audit_verify", binary=True) as cursor:
            cursor.itersize = batch
            cursor.execute(sql, (start,))
            while rows := cursor.fetchmany(batch):
                yield rows
        return
    cursor = driver.cursor()
    try:
        cursor.execute(sql.replace("%s", "?"), (start,))
        while rows := cursor.fetchmany(batch):
            yield rows
    finally:
        cursor.close()


@dataclass
class _Scan:
    seq: int = 0
    hash: str = ZERO_HASH
    count: int = 0
    anomaly: int | None = None
    checkpoint_mismatch: int | None = None


def scan(batches: Iterator[Sequence[Row]], checkpoints: dict[int, str], progress: Progress | None = None) -> _Scan:
    """The fast loop: stops at the first anomaly (or checkpoint mismatch), else reaches the head."""
    state = _Scan()
    sha256 = hashlib.sha256
    expected, prev, prev_b = 1, ZERO_HASH, ZERO_HASH.encode()
    for rows in batches:
        for seq, prev_col, hash_col, data in rows:
            needle = b'"seq":%d,"ts":"' % seq
            at = data.rfind(PREV_TOKEN) + 8
            if (
                seq != expected
                or sha256(data).hexdigest() != hash_col
                or prev_col != prev
                or data[at : at + 64] != prev_b
                or data[-TS_TAIL - len(needle) : -TS_TAIL] != needle
            ):
                state.anomaly, state.seq, state.hash = seq, expected - 1, prev
                return state
            if seq in checkpoints and checkpoints[seq] != hash_col:
                state.checkpoint_mismatch, state.seq, state.hash = seq, expected - 1, prev
                return state
            expected, prev, prev_b = seq + 1, hash_col, hash_col.encode()
            state.count += 1
        state.seq, state.hash = expected - 1, prev
        if progress is not None:
            progress(len(rows))
    return state


def _parsed(data: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except ValueError:
        return {}
    return obj if isinstance(obj, dict) else {}


def _window(session: Session, start: int, size: int = 6) -> list[tuple[int, str, dict[str, Any]]]:
    rows = session.execute(
        select(AuditEvent.seq, AuditEvent.hash, AuditEvent.canonical)
        .where(AuditEvent.seq >= start)
        .order_by(AuditEvent.seq)
        .limit(size)
    ).all()
    return [(seq, hash_, _parsed(data)) for seq, hash_, data in rows]


def diagnose(session: Session, *, seq: int, expected: int, prev_hash: str) -> Break:
    """Name the break found at stored ``seq`` when ``expected`` was due after ``prev_hash``."""
    if seq != expected:
        return Break(BreakKind.MISSING, expected, f"events {expected}..{seq - 1} are missing; the next stored is {seq}")
    row = session.get(AuditEvent, seq)
    assert row is not None
    if hashlib.sha256(row.canonical).hexdigest() != row.hash:
        return Break(BreakKind.CONTENT_CHANGED, seq, "the stored bytes no longer match the event's hash")
    window = _window(session, seq)
    own = window[0][2]
    own_seq, own_prev = own.get("seq"), own.get("prev")
    later = {w[2].get("seq"): w[0] for w in window[1:]}
    if own_seq != seq:
        if isinstance(own_seq, int) and own_seq < seq:
            return Break(BreakKind.INSERTED, seq - 1, f"an extra event was inserted before event {own_seq}")
        if seq in later:
            return Break(BreakKind.REORDERED, seq, f"event {own_seq} is stored at {seq}, event {seq} at {later[seq]}")
        return Break(BreakKind.MISSING, seq, f"event {own_seq} is stored at {seq}: events before it were removed")
    if row.prev != own_prev:
        return Break(BreakKind.CONTENT_CHANGED, seq, "the prev column differs from the event's own prev")
    if len(window) > 1 and window[1][2].get("prev") == prev_hash and window[1][2].get("seq") == seq:
        return Break(BreakKind.INSERTED, seq, f"event {seq} does not belong to the chain: the next event links past it")
    changed = max(seq - 1, 1)
    return Break(BreakKind.CONTENT_CHANGED, changed, f"event {seq} does not chain to event {changed}: it was changed")


@dataclass
class _CheckpointSet:
    by_seq: dict[int, str] = field(default_factory=dict)
    breaks: list[Break] = field(default_factory=list)
    count: int = 0


def _gather_checkpoints(session: Session, log: CheckpointLog, result: _CheckpointSet) -> list[tuple[Checkpoint, str]]:
    """Every checkpoint of the log and the database, noting any that is on one side only."""
    logged: dict[bytes, str] = {}
    found: list[tuple[Checkpoint, str]] = []
    for number, line in log.lines():
        where = f"{log.path} line {number}"
        try:
            found.append((parse_checkpoint(line), where))
        except AuditError as exc:
            result.breaks.append(Break(BreakKind.BAD_CHECKPOINT, 0, f"{where}: {exc}"))
            continue
        logged[line] = where
    stored = {bytes(row.line): row for row in database_checkpoints(session)}
    for line, row in stored.items():
        if line not in logged:
            detail = f"checkpoint {row.id} is in the database, not in {log.path}"
            result.breaks.append(Break(BreakKind.CHECKPOINT_MISSING, row.seq, detail))
            found.append((parse_checkpoint(line), f"database checkpoint {row.id}"))
    for line, where in logged.items():
        if line not in stored:
            seq = parse_checkpoint(line).seq
            result.breaks.append(Break(BreakKind.CHECKPOINT_MISSING, seq, f"{where} is missing from the database"))
    return found


def _check_checkpoints(session: Session, log: CheckpointLog, trusted: dict[str, bytes]) -> _CheckpointSet:
    """Parse, check signatures, and compare the database's checkpoints with the external log."""
    result = _CheckpointSet()
    for checkpoint, where in _gather_checkpoints(session, log, result):
        result.count += 1
        public = trusted.get(checkpoint.key_id)
        if public is None or not checkpoint.verifies(public):
            why = "unknown key" if public is None else "signature does not verify"
            result.breaks.append(Break(BreakKind.BAD_CHECKPOINT, checkpoint.seq, f"{where}: {why}"))
            continue
        if result.by_seq.setdefault(checkpoint.seq, checkpoint.hash) != checkpoint.hash:
            detail = f"{where}: two different heads signed at one seq"
            result.breaks.append(Break(BreakKind.BAD_CHECKPOINT, checkpoint.seq, detail))
    return result


def _locate_rewrite(session: Session, lo: int, hi: int, expected_hash: str) -> Break:
    """A validly chained history that disagrees with a checkpoint was rewritten in ``lo..hi``.

    The searchable columns are copies the rewriter may have forgotten; compare them to
    narrow the location down to one event when possible.
    """
    rows = session.scalars(select(AuditEvent).where(AuditEvent.seq.between(lo, hi)).order_by(AuditEvent.seq))
    for row in rows:
        name = _column_mismatch(row, _parsed(row.canonical))
        if name is not None:
            detail = f"rewritten with recomputed hashes; its {name} column still holds the original"
            return Break(BreakKind.CONTENT_CHANGED, row.seq, detail)
    return Break(
        BreakKind.CONTENT_CHANGED,
        lo,
        f"history in {lo}..{hi} was rewritten with recomputed hashes: the checkpoint at {hi} signed {expected_hash}",
    )


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
    return next((name for name, value in copies.items() if event.get(name) != value), None)


def _deep_check(session: Session) -> Break | None:
    for row in session.scalars(select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=5000)):
        name = _column_mismatch(row, _parsed(row.canonical))
        if name is not None:
            return Break(BreakKind.CONTENT_CHANGED, row.seq, f"the {name} column differs from the event's bytes")
    return None


def verify_chain(
    session: Session,
    *,
    trusted_keys: dict[str, bytes],
    log: CheckpointLog,
    deep: bool = False,
    progress: Progress | None = None,
) -> ChainReport:
    """Verify the whole chain, every checkpoint and the external log; never raises on a break.

    ``trusted_keys`` maps key_id to raw public key: the system keys from the key files,
    not from the database (which a tamperer could extend).
    """
    checkpoints = _check_checkpoints(session, log, trusted_keys)
    report = ChainReport(checkpoints_checked=checkpoints.count, breaks=list(checkpoints.breaks))
    report.newest_checkpoint = max(checkpoints.by_seq, default=0)
    with closing(stream_rows(session)) as batches:
        state = scan(batches, checkpoints.by_seq, progress)
    report.head_seq, report.head_hash, report.events_checked = state.seq, state.hash, state.count
    if state.anomaly is not None:
        report.breaks.append(diagnose(session, seq=state.anomaly, expected=state.seq + 1, prev_hash=state.hash))
    elif state.checkpoint_mismatch is not None:
        hi = state.checkpoint_mismatch
        lo = max((s for s in checkpoints.by_seq if s < hi), default=0) + 1
        report.breaks.append(_locate_rewrite(session, lo, hi, checkpoints.by_seq[hi]))
    else:
        stored_head, _ = head(session)
        if report.newest_checkpoint > stored_head:
            n = report.newest_checkpoint
            detail = f"events {stored_head + 1}..{n} are gone: a checkpoint signed event {n}"
            report.breaks.append(Break(BreakKind.TRUNCATED, stored_head + 1, detail))
        if deep and (found := _deep_check(session)) is not None:
            report.breaks.append(found)
    return report
