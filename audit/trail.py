"""Appending to the audit trail inside the caller's transaction.

Serialization of appends (no gaps, no forks, many processes):

* PostgreSQL: the events of a transaction are chained **in the commit's own message**.
  ``record`` builds each event's canonical bytes around the three values only the
  chain can give (prev, seq, ts) and keeps it with the connection; when the
  transaction commits, one simple-query message calls ``audit_link(...)`` for one
  event or ``audit_chain(...)`` for several (migrations ``audit_0004_commit_chain``,
  ``audit_0005_link_one``: ``pg_advisory_xact_lock``, head read after the lock, seq,
  the server's time, prev, SHA-256, INSERT) followed by ``COMMIT``. The lock is
  held only while the server runs that message: never across a round trip to the
  application, so eight writers no longer queue behind each other's network and
  scheduling. The event object ``record`` returned is completed in place then.
  The chain is linked earlier ("now", the lock then held to commit) when something
  needs it inside the transaction: a hook that needs the event's seq (``immediate``
  actions), any statement on an ``audit_*`` table (a head read, a tree head, a query
  of the trail), :func:`lock_chain`, a savepoint (events recorded before it are
  linked first) and an event recorded inside one (a rollback to it removes the row).
* SQLite: every transaction already began with ``BEGIN IMMEDIATE`` (``ebr.core.db``),
  which holds the database's write lock; each event is written when recorded.

A rollback removes the events with everything else: no trace, no gap.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from psycopg import ClientCursor
from psycopg import Error as DriverError
from psycopg.adapt import Transformer
from sqlalchemy import Connection, Engine, Pool, event, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from audit.chain import Entity, build_event, event_bytes, event_hash
from audit.models import AuditEvent
from ebr.core.canonical import ZERO_HASH
from ebr.core.clock import Clock, SystemClock

log = logging.getLogger(__name__)

# Any constant works; it names "the audit chain head" among advisory locks.
CHAIN_LOCK_KEY = 0x45_42_52_41_55_44  # "EBRAUD"


@dataclass(slots=True)
class AppendedEvent:
    """The event as stored: the columns of ``audit_event`` (the bytes are the truth).

    On PostgreSQL an event is linked into the chain when its transaction commits (or
    earlier, see the module docstring): until then ``seq`` is 0, ``prev`` and ``hash``
    are empty, ``ts`` is the application's time of the call and ``canonical`` the
    event's bytes with placeholder chain values. The object is completed in place.
    """

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

    @property
    def chained(self) -> bool:
        """Whether the event has its place in the chain (seq, prev, time, hash)."""
        return self.seq > 0


AppendHook = Callable[[Session, AppendedEvent], None]
SealHook = Callable[[Session], object]
CommitHook = Callable[[Engine, int, int], None]
"""Called after a commit that chained events ``first..last`` (PostgreSQL), outside any transaction."""

_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_HEAD = select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)

# The append path talks to the driver directly: it runs in every GMP transaction and
# SQLAlchemy's per-statement overhead was most of its cost (benchmarks/audit_write.py).
_HEAD_SQL = "SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1"
_COLUMNS = ("seq", "ts", "actor", "action", "entity_type", "entity_id", "reason", "prev", "hash", "canonical")
_INSERT_SQL = (
    "INSERT INTO audit_event (seq, ts, actor, action, entity_type, entity_id, reason, prev, hash, canonical) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SQLITE_TS = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's SQLite DATETIME storage format (UTC, as UTCDateTime stores)

# One literal per value (``ARRAY['…', '…']``): psycopg quotes scalars several times faster than lists.
_CHAIN_ARRAYS = (b"bytea", b"bytea", b"text", b"text", b"text", b"text", b"text", b"timestamptz")
_PENDING = "audit.pending"  # in the DBAPI connection's info: the transaction's unchained events
_PREV_MARK, _SEQ_MARK = b'"prev":"', b',"seq":'


@dataclass(frozen=True, slots=True)
class _Fields:
    """What the caller of ``record`` says about the event."""

    actor: str
    action: str
    entity: Entity
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None


@dataclass(slots=True)
class _Unchained:
    event: AppendedEvent
    head: bytes  # the canonical bytes up to prev's value
    middle: bytes  # between prev's value and seq's value
    stamp: dt.datetime | None  # None: the database server's clock at the link


@dataclass(slots=True)
class _Pending:
    events: list[_Unchained] = field(default_factory=list)
    trails: list[AuditTrail] = field(default_factory=list)
    first: int = 0  # the first seq linked in this transaction (0: none yet)
    last: int = 0


def _pending(connection: Connection, *, create: bool = False) -> _Pending | None:
    found: _Pending | None = connection.info.get(_PENDING)
    if found is None and create:
        found = connection.info[_PENDING] = _Pending()
    return found


def lock_chain(session: Session) -> None:
    """Take the chain's append lock for the rest of this transaction (events recorded so far are linked)."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return  # SQLite: the transaction holds the database's write lock already
    if not _link(connection, commit=False):
        connection.execute(_LOCK, {"key": CHAIN_LOCK_KEY})


def _link(connection: Connection, *, commit: bool) -> bool:
    """Link the transaction's unchained events (and COMMIT in the same message when ``commit``).

    Returns False when there was nothing to link (and, without ``commit``, nothing was sent).
    """
    pending = _pending(connection)
    if pending is None or not pending.events:
        return False
    waiting, pending.events = pending.events, []
    driver: Any = connection.connection.driver_connection
    # The values go into the statement as psycopg's own literals: with COMMIT, two statements
    # travel in one simple-query message, which cannot carry parameters. Joined here rather
    # than through placeholders: psycopg would scan a statement of thousands of them first.
    literal = Transformer.from_context(driver).as_literal
    if len(waiting) == 1:  # most transactions: scalars, no arrays to parse, no result set to build
        values = b", ".join(map(literal, _link_values(waiting[0])))
        statement = b"SELECT seq, ts, prev, hash FROM audit_link(" + values + b"::timestamptz)"
    else:
        columns: tuple[list[bytes], ...] = tuple([] for _ in _CHAIN_ARRAYS)
        for u in waiting:
            for column, value in zip(columns, _link_values(u), strict=True):
                column.append(literal(value))
        arrays = b", ".join(
            b"ARRAY[" + b", ".join(column) + b"]::" + kind + b"[]"
            for column, kind in zip(columns, _CHAIN_ARRAYS, strict=True)
        )
        statement = b"SELECT seq, ts, prev, hash FROM audit_chain(" + arrays + b")"
    if commit:
        statement += b"; COMMIT"
    try:
        with ClientCursor(driver) as cursor:
            cursor.execute(statement)
            rows = cursor.fetchall()
    except DriverError as exc:
        raise DBAPIError.instance(statement.decode("utf-8", "replace"), None, exc, DriverError) from exc
    for unchained, (seq, ts, prev, hash_) in zip(waiting, rows, strict=True):
        _complete(unchained, seq, ts, prev, hash_)
    pending.first = pending.first or rows[0][0]
    pending.last = rows[-1][0]
    return True


def _link_values(unchained: _Unchained) -> tuple[Any, ...]:
    e = unchained.event
    return (unchained.head, unchained.middle, e.actor, e.action, e.entity_type, e.entity_id, e.reason, unchained.stamp)


def _complete(unchained: _Unchained, seq: int, ts: dt.datetime, prev: str, hash_: str) -> None:
    event = unchained.event
    tail = f'{seq},"ts":"{ts.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}"}}'.encode()
    event.canonical = unchained.head + prev.encode("ascii") + unchained.middle + tail
    event.seq, event.ts, event.prev, event.hash = seq, ts.astimezone(dt.UTC), prev, hash_


def _on_commit(connection: Connection) -> None:
    pending = _pending(connection)
    if pending is None:
        return
    if not _link(connection, commit=True) and pending.first:
        _commit_now(connection)  # linked earlier: commit before the after-commit work takes the lock again
    # Either way the transaction is committed now: the driver's own commit sends nothing more.
    connection.info.pop(_PENDING, None)
    if pending.first:
        for trail in pending.trails:
            trail.committed(connection.engine, pending.first, pending.last)


def _commit_now(connection: Connection) -> None:
    driver: Any = connection.connection.driver_connection
    try:
        driver.commit()
    except DriverError as exc:
        raise DBAPIError.instance("COMMIT", None, exc, DriverError) from exc


def _forget(connection: Connection) -> None:
    connection.info.pop(_PENDING, None)


def _before_statement(connection: Connection, _cursor: Any, statement: str, *_: Any) -> None:
    if "audit_" in statement and _PENDING in connection.info:
        _link(connection, commit=False)  # the statement must see this transaction's events in the chain


def _on_savepoint(connection: Connection, _name: str) -> None:
    _link(connection, commit=False)  # events recorded before the savepoint must outlive a rollback to it


def _on_checkin(_driver: Any, record: Any) -> None:
    if record is not None:
        record.info.pop(_PENDING, None)


def install() -> None:
    """Listen on every engine and pool (idempotent; done by the first :class:`AuditTrail`)."""
    for target, name, handler in (
        (Engine, "commit", _on_commit),
        (Engine, "rollback", _forget),
        (Engine, "before_cursor_execute", _before_statement),
        (Engine, "savepoint", _on_savepoint),
        (Pool, "checkin", _on_checkin),
    ):
        if not event.contains(target, name, handler):
            event.listen(target, name, handler)


def _split(data: bytes) -> tuple[bytes, bytes]:
    """The canonical bytes before prev's value and between prev's value and seq's value.

    The event's last keys in canonical order are prev, reason, seq, ts; a string value
    cannot contain the markers (its quotes are escaped), so the last ones are the keys.
    """
    at, seq_at = data.rindex(_PREV_MARK) + len(_PREV_MARK), data.rindex(_SEQ_MARK) + len(_SEQ_MARK)
    return data[:at], data[at + 64 : seq_at]


def head(session: Session) -> tuple[int, str]:
    """``(seq, hash)`` of the newest event, ``(0, zeros)`` for an empty trail."""
    # Core on the session's connection: the ORM's execution path costs more than the query.
    row = session.connection().execute(_HEAD).first()
    return (0, ZERO_HASH) if row is None else (row[0], row[1])


class AuditTrail:
    """The installation's audit trail. Build once in the composition root.

    ``immediate``: actions whose ``after_append`` hooks need the event's place in the
    chain (its seq) during the transaction; on PostgreSQL those events are linked at
    once. ``after_commit`` is told the seqs a PostgreSQL commit linked.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        after_append: AppendHook | None = None,
        seal: SealHook | None = None,
        immediate: frozenset[str] = frozenset(),
        after_commit: CommitHook | None = None,
    ) -> None:
        self.clock = clock or SystemClock()
        self._after_append = after_append
        self._seal = seal
        self._immediate = immediate
        self._after_commit = after_commit
        install()

    def seal(self, session: Session) -> None:
        """Sign a tree head over the trail in ``session``'s transaction (at a batch release).

        A no-op when the installation signs no tree heads; raises (TreeHeadRefused) when the
        events since the previous tree head do not verify, failing the caller's transaction.
        """
        if self._seal is not None:
            self._seal(session)

    def committed(self, engine: Engine, first: int, last: int) -> None:
        """A commit linked events ``first..last`` (PostgreSQL). Never raises: the data is committed."""
        if self._after_commit is None:
            return
        try:
            self._after_commit(engine, first, last)
        except Exception:
            log.exception("after-commit work for audit events %d..%d failed", first, last)

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

        On PostgreSQL the event is linked into the chain at commit (see the module
        docstring) and the returned object completed then. Raises AuditError for a
        malformed event; any database error propagates so the caller's whole unit of
        work fails with it.
        """
        session.flush()  # the caller's pending rows first, as they would be without us
        connection = session.connection()
        fields = _Fields(actor, action, entity, before, after, reason)
        if connection.dialect.name == "postgresql":
            row = self._defer(connection, fields)
        else:
            row = self._write_now(connection, fields)
        if self._after_append is not None:
            self._after_append(session, row)
        return row

    def _defer(self, connection: Connection, fields: _Fields) -> AppendedEvent:
        row = self._build(2, ZERO_HASH, fields)  # placeholders: seq 2, prev zeros
        head_bytes, middle = _split(row.canonical)
        row.seq, row.prev, row.hash = 0, "", ""
        stamp = None if type(self.clock) is SystemClock else row.ts
        pending = _pending(connection, create=True)
        assert pending is not None
        pending.events.append(_Unchained(row, head_bytes, middle, stamp))
        if self._after_commit is not None and self not in pending.trails:
            pending.trails.append(self)
        if fields.action in self._immediate or connection.in_nested_transaction():
            _link(connection, commit=False)  # a rollback to the savepoint removes it then, as on SQLite
        return row

    def _write_now(self, connection: Connection, fields: _Fields) -> AppendedEvent:
        driver: Any = connection.connection.driver_connection
        cursor = driver.cursor()
        try:
            cursor.execute(_HEAD_SQL)
            found = cursor.fetchone()
            seq, prev = (0, ZERO_HASH) if found is None else (found[0], found[1])
            row = self._build(seq + 1, prev, fields)
            values = [getattr(row, name) for name in _COLUMNS]
            values[1] = row.ts.astimezone(dt.UTC).strftime(_SQLITE_TS)
            cursor.execute(_INSERT_SQL, values)
        finally:
            cursor.close()
        return row

    def _build(self, seq: int, prev: str, fields: _Fields) -> AppendedEvent:
        now = self.clock.now()
        event = build_event(
            seq=seq,
            ts=now,
            actor=fields.actor,
            action=fields.action,
            entity=fields.entity,
            reason=fields.reason,
            before=fields.before,
            after=fields.after,
            prev=prev,
        )
        data = event_bytes(event)
        return AppendedEvent(
            seq=event["seq"],
            ts=now,
            actor=fields.actor,
            action=fields.action,
            entity_type=fields.entity.type,
            entity_id=fields.entity.id,
            reason=fields.reason,
            prev=event["prev"],
            hash=event_hash(data),
            canonical=data,
        )
