"""Row images of GMP tables in the audit trail (what ``ebr audit verify --records`` compares with).

Every transaction of the application that changes a row of a GMP table appends,
before it commits and in the same transaction, one ``records.written`` event whose
``after`` is ``{"rows": {table: {key: image | null}}}``: the image of each row it
inserted, updated or deleted (``null``) exactly as the database holds it at commit.
The event's actor is that of the transaction's last audit event and its entity is
``records`` / ``TYPE:ID`` of that event's entity (the business entity's own history
stays its business events).

The images are written by one mechanism, not by each service: SQLAlchemy session
events note the key of every GMP row the ORM flushes (``after_flush``) or an
ORM-enabled ``insert``/``update``/``delete`` touches (``do_orm_execute``), and
``before_commit`` reads those rows back and appends the event through the trail the
transaction already used. A row changed any other way (SQL behind the application's
back) has no matching image, which is what reconciliation reports.

An image maps each column to a JSON value: numbers and booleans as they are, Decimals
as plain decimal text, timestamps in RFC 3339, dates ISO; JSON documents, binary
values, long texts and secrets (password hashes) as ``sha256:<hex>`` of their bytes
(a JSON document: of its sorted, compact JSON text).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, RowMapping, Table, event, inspect, select, tuple_
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from audit.chain import Entity
from audit.trail import AppendedEvent, AuditTrail
from ebr.core.canonical import decimal_text, jsonable
from ebr.core.clock import to_rfc3339
from ebr.core.db import Base
from ebr.tables import load_all_models

log = logging.getLogger(__name__)

IMAGES_ACTION = "records.written"
BASELINE_ACTION = "records.baselined"
IMAGE_ACTIONS = (IMAGES_ACTION, BASELINE_ACTION)
IMAGES_ENTITY = "records"

# Every table of the audit package (``audit_*``, today and future: tree heads, proofs)
# is the trail itself, verified by its chain, signed tree heads, external log and key files.
AUDIT_PREFIX = "audit_"
# Other tables deliberately outside reconciliation, with the reason (docs/audit.md repeats it).
EXCLUDED: dict[str, str] = {
    "user_session": "web sessions: last_seen_at moves on every request; logins and logouts are audited events",
    "apscheduler_jobs": "the scheduler's own job store (runtime state, rebuilt at every start)",
    "scheduled_job": "schedule settings and last-run bookkeeping; every run writes its own audit events",
    "scheduler_heartbeat": "liveness only, rewritten every few seconds",
    "equipment_command": "runtime exchange (application → runtime); the GMP action that made it is audited",
    "equipment_phase_state": "runtime exchange: the runtime's last report, overwritten continuously",
    "equipment_event": "runtime exchange: raw runtime reports; GMP consequences are audited by the recorder",
    "equipment_alarm": "runtime exchange: trips and acknowledgements are audited as events by the recorder",
    "equipment_reading": "process values cache: the latest value of each tag, overwritten continuously",
    "equipment_trend": "downsampled process data, pruned by retention",
    "equipment_heartbeat": "liveness only, rewritten every second",
    "batch_number": "the day's batch number counter; each number given is in its batch row and batch.created event",
    "integration_inbound_attempt": "the inbound consumer's attempt count of a message, deleted once it is settled; "
    "a dead letter it leads to is audited",
}
# Columns whose value must never appear in the trail, only its digest.
SECRETS = frozenset({("user_account", "password_hash"), ("password_history", "password_hash")})
LONG_TEXT = 120

_TOUCHED = "ebr.records.touched"
_LAST = "ebr.records.last"
_SECTION = "rows"


def gmp_tables() -> list[Table]:
    """Every table of the schema that reconciliation covers (all except ``audit_*`` and :data:`EXCLUDED`)."""
    load_all_models()
    return [t for t in Base.metadata.sorted_tables if t.name not in EXCLUDED and not t.name.startswith(AUDIT_PREFIX)]


def _gmp_names() -> frozenset[str]:
    return frozenset(t.name for t in gmp_tables())


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image_value(table: str, column: str, value: Any) -> Any:
    """The JSON value an image holds for one column (see the module docstring)."""
    kind = type(value)
    if kind is str and (table, column) not in SECRETS:  # the commonest case first (same result as below)
        return value if len(value) <= LONG_TEXT else _digest(value.encode("utf-8"))
    if value is None or isinstance(value, bool | int):
        return value
    if (table, column) in SECRETS:
        return _digest(str(value).encode("utf-8"))
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, dt.datetime):
        return to_rfc3339(value) if value.tzinfo is not None else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return _digest(bytes(value))
    if isinstance(value, str):
        return value if len(value) <= LONG_TEXT else _digest(value.encode("utf-8"))
    if isinstance(value, float):
        return _digest(repr(value).encode("ascii"))
    # A JSON column: sorted compact JSON of what the driver returned (floats included), hashed.
    return _digest(json.dumps(jsonable(value), sort_keys=True, separators=(",", ":"), default=str).encode("utf-8"))


def row_key(table: Table, row: Mapping[str, Any] | RowMapping) -> str:
    """The row's primary key as text (``a/b`` for a composite key)."""
    return "/".join(str(row[c.name]) for c in table.primary_key.columns)


def row_image(table: Table, row: Row[Any] | Mapping[str, Any]) -> dict[str, Any]:
    """The image of one row read with ``select(table)``."""
    name, columns = table.name, _columns(table)
    if isinstance(row, Row):  # select(table): its values in the table's column order
        return {column: image_value(name, column, value) for column, value in zip(columns, row, strict=True)}
    return {column: image_value(name, column, row[column]) for column in columns}


_COLUMNS: dict[Table, tuple[str, ...]] = {}


def _columns(table: Table) -> tuple[str, ...]:
    found = _COLUMNS.get(table)
    if found is None:
        found = _COLUMNS[table] = tuple(c.name for c in table.columns)
    return found


def read_images(session: Session, table: Table, keys: Iterable[tuple[Any, ...]]) -> dict[str, dict[str, Any] | None]:
    """Current images of ``keys`` (primary-key tuples) of ``table``; ``None`` for a row that is gone."""
    wanted = list(dict.fromkeys(keys))
    pk = list(table.primary_key.columns)
    found: dict[str, dict[str, Any] | None] = {"/".join(str(v) for v in key): None for key in wanted}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        where = pk[0].in_([k[0] for k in chunk]) if len(pk) == 1 else tuple_(*pk).in_(chunk)
        for row in session.connection().execute(select(table).where(where)):
            found[row_key(table, row._mapping)] = row_image(table, row)
    return found


# -- noting what a transaction touched ------------------------------------------------


def _touched(session: Session) -> dict[str, set[tuple[Any, ...]]]:
    touched: dict[str, set[tuple[Any, ...]]] = session.info.setdefault(_TOUCHED, {})
    return touched


def _after_flush(session: Session, _context: Any) -> None:
    names = _gmp_names_cached()
    for obj in (*session.new, *session.dirty, *session.deleted):
        state = inspect(obj)
        table = state.mapper.local_table
        if not isinstance(table, Table) or table.name not in names:
            continue
        key = state.mapper.primary_key_from_instance(obj)
        if all(v is not None for v in key):
            _touched(session).setdefault(table.name, set()).add(tuple(key))


def _on_execute(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if not isinstance(table, Table) or table.name not in _gmp_names_cached():
        return
    pk = [c.name for c in table.primary_key.columns]
    keys = _touched(state.session).setdefault(table.name, set())
    if state.is_insert:
        params: Any = state.parameters
        rows: list[Mapping[str, Any]] = params if isinstance(params, list) else [params or {}]
        keys.update(tuple(r.get(name) for name in pk) for r in rows if all(r.get(name) is not None for name in pk))
        return
    where = getattr(state.statement, "whereclause", None)
    query = select(*table.primary_key.columns) if where is None else select(*table.primary_key.columns).where(where)
    keys.update(tuple(r) for r in state.session.connection().execute(query))


def _before_commit(session: Session) -> None:
    if not session.info.get(_TOUCHED) or session.in_nested_transaction():
        return  # a savepoint's release is not the commit: the images go with the outer transaction
    session.flush()
    touched = session.info[_TOUCHED]
    last = session.info.get(_LAST)
    if last is None:
        log.warning("GMP rows changed without an audit event in the transaction: %s", sorted(touched))
        return
    trail, actor, entity = last
    write_images(session, trail, actor=actor, entity=images_entity(entity), touched=touched)


def images_entity(entity: Entity) -> Entity:
    """``records`` / ``TYPE:ID`` of the business event: an entity's own history stays its business events."""
    return Entity(IMAGES_ENTITY, f"{entity.type}:{entity.id}")


def write_images(
    session: Session,
    trail: AuditTrail,
    *,
    actor: str,
    entity: Entity,
    touched: Mapping[str, Iterable[tuple[Any, ...]]],
    action: str = IMAGES_ACTION,
    reason: str | None = None,
) -> AppendedEvent | None:
    """Append one event with the current images of ``touched`` rows; clears the noted keys."""
    tables = _tables_cached()
    rows = {name: read_images(session, tables[name], keys) for name, keys in sorted(touched.items()) if keys}
    session.info.pop(_TOUCHED, None)
    if not rows:
        return None
    return AuditTrail.record(
        trail, session, actor=actor, action=action, entity=entity, after={_SECTION: rows}, reason=reason
    )


def _end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_TOUCHED, None)
        session.info.pop(_LAST, None)


_NAMES: list[frozenset[str]] = []
_TABLES: list[dict[str, Table]] = []


def _gmp_names_cached() -> frozenset[str]:
    if not _NAMES:
        _NAMES.append(_gmp_names())
    return _NAMES[0]


def _tables_cached() -> dict[str, Table]:
    """The GMP tables by name (sorting the metadata's tables costs about a millisecond: once)."""
    if not _TABLES:
        _TABLES.append({t.name: t for t in gmp_tables()})
    return _TABLES[0]


def install() -> None:
    """Listen on every ORM session (idempotent; called by the composition root)."""
    for name, handler in (
        ("after_flush", _after_flush),
        ("do_orm_execute", _on_execute),
        ("before_commit", _before_commit),
        ("after_transaction_end", _end),
    ):
        if not event.contains(Session, name, handler):
            event.listen(Session, name, handler)


class ImagingAuditTrail(AuditTrail):
    """The installation's trail: records like :class:`AuditTrail` and remembers itself for the images."""

    def record(self, session: Session, **kwargs: Any) -> AppendedEvent:
        """Append one event (see :meth:`AuditTrail.record`); the transaction's images follow at commit."""
        appended = super().record(session, **kwargs)
        session.info[_LAST] = (self, kwargs["actor"], kwargs["entity"])
        return appended


def images_of(event: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{table: {key: image | None}}`` of a ``records.*`` event (empty for anything else)."""
    after = event.get("after")
    rows = after.get(_SECTION) if isinstance(after, dict) else None
    return rows if isinstance(rows, dict) else {}
