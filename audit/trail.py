"""Appending to the audit trail inside the caller's transaction.

Serialization of appends (no gaps, no forks, many processes):

* PostgreSQL: ``pg_advisory_xact_lock`` under READ COMMITTED, then read the head.
  The lock is held to commit, and the head read after it is a fresh snapshot, so
  the next writer sees this one's row. (Locking the last audit row does not
  serialize; REPEATABLE READ would read a stale head.)
* SQLite: every transaction already began with ``BEGIN IMMEDIATE`` (``ebr.core.db``),
  which holds the database's write lock.

A rollback removes the event with everything else: no trace, no gap.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from audit.chain import Entity, build_event, event_bytes, event_hash
from audit.models import AuditEvent
from ebr.core.canonical import ZERO_HASH
from ebr.core.clock import Clock, SystemClock

# Any constant works; it names "the audit chain head" among advisory locks.
CHAIN_LOCK_KEY = 0x45_42_52_41_55_44  # "EBRAUD"


@dataclass(frozen=True, slots=True)
class AppendedEvent:
    """The event as stored: the columns of ``audit_event`` (the bytes are the truth)."""

    seq: int
    ts: dt.datetime
    actor: str
    action: str
    entity_type: str
    entity_id: str
    reason: str | None
    prev: str
    hash: str
    canonical: bytes


AppendHook = Callable[[Session, AppendedEvent], None]
SealHook = Callable[[Session], object]

_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_HEAD = select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)

# The append path talks to the driver directly: it runs in every GMP transaction and
# SQLAlchemy's per-statement overhead was most of its cost (benchmarks/audit_write.py).
_HEAD_SQL = "SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1"
# One round trip on PostgreSQL: two statements in one simple query. Under READ
# COMMITTED each statement takes its own snapshot, so the SELECT sees the head as
# of AFTER the lock was granted.
_PG_LOCKED_HEAD = f"SELECT pg_advisory_xact_lock({CHAIN_LOCK_KEY}); {_HEAD_SQL}"
_COLUMNS = ("seq", "ts", "actor", "action", "entity_type", "entity_id", "reason", "prev", "hash", "canonical")
_INSERT_SQL = (
    "INSERT INTO audit_event (seq, ts, actor, action, entity_type, entity_id, reason, prev, hash, canonical) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_SQLITE_TS = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's SQLite DATETIME storage format (UTC, as UTCDateTime stores)


def lock_chain(session: Session) -> None:
    """Take the chain's append lock for the rest of this transaction."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(_LOCK, {"key": CHAIN_LOCK_KEY})


def _locked_head(cursor: Any, postgres: bool) -> tuple[int, str]:
    """Lock the chain (PostgreSQL) and read its head, on the driver's cursor."""
    if postgres:
        cursor.execute(_PG_LOCKED_HEAD)
        cursor.nextset()
    else:
        cursor.execute(_HEAD_SQL)
    found = cursor.fetchone()
    return (0, ZERO_HASH) if found is None else (found[0], found[1])


def head(session: Session) -> tuple[int, str]:
    """``(seq, hash)`` of the newest event, ``(0, zeros)`` for an empty trail."""
    # Core on the session's connection: the ORM's execution path costs more than the query.
    row = session.connection().execute(_HEAD).first()
    return (0, ZERO_HASH) if row is None else (row[0], row[1])


class AuditTrail:
    """The installation's audit trail. Build once in the composition root."""

    def __init__(
        self, *, clock: Clock | None = None, after_append: AppendHook | None = None, seal: SealHook | None = None
    ) -> None:
        self.clock = clock or SystemClock()
        self._after_append = after_append
        self._seal = seal

    def seal(self, session: Session) -> None:
        """Sign a tree head over the trail in ``session``'s transaction (at a batch release).

        A no-op when the installation signs no tree heads; raises (TreeHeadRefused) when the
        events since the previous tree head do not verify, failing the caller's transaction.
        """
        if self._seal is not None:
            self._seal(session)

    def record(
        self,
        session: Session,
        *,
        actor: str,
        action: str,
        entity: Entity,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> AppendedEvent:
        """Append one event in ``session``'s transaction and return it (written, not committed).

        Raises AuditError for a malformed event; any database error propagates so the
        caller's whole unit of work fails with it.
        """
        session.flush()  # the caller's pending rows first, as they would be without us
        connection = session.connection()
        postgres = connection.dialect.name == "postgresql"
        driver: Any = connection.connection.driver_connection
        cursor = driver.cursor()
        try:
            seq, prev = _locked_head(cursor, postgres)
            row = self._build(seq + 1, prev, actor, action, entity, before, after, reason)
            values = [getattr(row, name) for name in _COLUMNS]
            if postgres:
                cursor.execute(_INSERT_SQL, values)
            else:
                values[1] = row.ts.astimezone(dt.UTC).strftime(_SQLITE_TS)
                cursor.execute(_INSERT_SQL.replace("%s", "?"), values)
        finally:
            cursor.close()
        if self._after_append is not None:
            self._after_append(session, row)
        return row

    def _build(
        self,
        seq: int,
        prev: str,
        actor: str,
        action: str,
        entity: Entity,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        reason: str | None,
    ) -> AppendedEvent:
        now = self.clock.now()
        event = build_event(
            seq=seq,
            ts=now,
            actor=actor,
            action=action,
            entity=entity,
            reason=reason,
            before=before,
            after=after,
            prev=prev,
        )
        data = event_bytes(event)
        row = AppendedEvent(
            seq=event["seq"],
            ts=now,
            actor=actor,
            action=action,
            entity_type=entity.type,
            entity_id=entity.id,
            reason=reason,
            prev=event["prev"],
            hash=event_hash(data),
            canonical=data,
        )
        return row
