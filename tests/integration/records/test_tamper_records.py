"""Property: any direct SQL edit, delete or insert on a GMP table is found and located (issue 16 §5).

Hypothesis picks 1-3 tampers (an UPDATE of one column to another valid value, a
DELETE, an INSERT of a copied row under a new key, a swap of one column's values
between two rows, a whole table emptied) on random rows of random GMP
tables of a shop built through the application, on SQLite and PostgreSQL. Each
example runs in one transaction that is rolled back, so the shop is built once per
database. On PostgreSQL the tampers run with ``session_replication_role = replica``
(as a superuser could: no trigger, no foreign-key check). Reconciliation must report
exactly the tampered rows, by table, key and kind. ``EBR_TAMPER_EXAMPLES`` raises the number of examples for a long run.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Connection,
    Date,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, ProgrammingError
from sqlalchemy.orm import Session

from ebr.bootstrap import Services
from ebr.core.db import Quantity, UTCDateTime
from ebr.ops.images import gmp_tables, image_value, row_key
from ebr.ops.records import reconcile
from tests.integration.records.shop import Shop, make_shop

EXAMPLES = int(os.environ.get("EBR_TAMPER_EXAMPLES", "25"))
KINDS = ("update", "delete", "insert", "swap", "truncate")
Located = tuple[str, str, str]


@pytest.fixture
def shop(services: Services) -> Shop:
    return make_shop(services)


def _rows(connection: Connection, table: Table) -> list[dict[str, Any]]:
    query = select(table).order_by(*table.primary_key.columns)
    return [dict(r._mapping) for r in connection.execute(query)]


def _pk_where(table: Table, row: dict[str, Any]) -> Any:
    return [c == row[c.name] for c in table.primary_key.columns]


def _other_value(draw: st.DrawFn, connection: Connection, table: Table, name: str, current: Any) -> Any:
    """A valid value for ``table.name`` different from ``current`` (None: the column cannot be changed)."""
    column = table.columns[name]
    if column.foreign_keys:
        target = next(iter(column.foreign_keys)).column
        choices = sorted(v for v in connection.execute(select(target).distinct()).scalars() if v != current)
        return draw(st.sampled_from(choices)) if choices else None
    if column.nullable and current is not None and draw(st.booleans()):
        return None
    kind = column.type
    if isinstance(kind, Boolean):
        return not current
    if isinstance(kind, UTCDateTime):
        base = current or dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        return base + dt.timedelta(seconds=draw(st.integers(1, 10**7)))
    if isinstance(kind, Quantity):
        return (current or Decimal(0)) + Decimal(draw(st.integers(1, 99_999))) / 10
    if isinstance(kind, Date):
        return (current or dt.date(2026, 1, 1)) + dt.timedelta(days=draw(st.integers(1, 3000)))
    if isinstance(kind, Integer | BigInteger):
        return (current or 0) + draw(st.integers(1, 1000))
    if isinstance(kind, JSON):
        return {"tampered": draw(st.integers(0, 10**6))}
    if isinstance(kind, LargeBinary):
        return (current or b"") + draw(st.binary(min_size=1, max_size=8))
    if isinstance(kind, String | Text):
        limit = min(getattr(kind, "length", None) or 40, 40)
        text_value = draw(st.text("abcdefghijklmnopqrstuvwxyz0123456789 -.", min_size=1, max_size=limit))
        return text_value if text_value != current else text_value[:-1] + ("x" if text_value[-1:] != "x" else "y")
    return None


def _unique_names(table: Table) -> set[str]:
    names = {c.name for c in table.columns if c.unique}
    for index in table.indexes:
        if index.unique:
            names |= {c.name for c in index.columns}
    for constraint in table.constraints:
        if type(constraint).__name__ == "UniqueConstraint":
            names |= {c.name for c in constraint.columns}  # type: ignore[attr-defined]
    return names - {c.name for c in table.primary_key.columns}


def _new_key_value(connection: Connection, table: Table, name: str) -> Any:
    column = table.columns[name]
    if isinstance(column.type, Integer | BigInteger):
        return (connection.execute(select(func.max(column))).scalar() or 0) + 1000
    return "t" + secrets.token_hex(8)


def _fresh(value: Any, column: Any) -> Any:
    if isinstance(column.type, Integer | BigInteger):
        return value + 1000
    return f"{value}-t{secrets.token_hex(3)}"[: getattr(column.type, "length", None) or 200]


def _truncate(connection: Connection, table: Table, done: set[Located]) -> set[Located]:
    """Every row of ``table`` deleted: each row the trail knows becomes ``deleted``."""
    keys = {row_key(table, r) for r in _rows(connection, table)}
    connection.execute(delete(table))
    inserted = {k for t, k, kind in done if t == table.name and kind == "not_in_trail"}
    kept = {d for d in done if d[0] != table.name or d[2] == "deleted"}
    return kept | {(table.name, k, "deleted") for k in keys - inserted}


def _swap(
    draw: st.DrawFn, connection: Connection, table: Table, rows: list[dict[str, Any]], used: set[Any]
) -> set[Located]:
    """One column's values exchanged between two rows (each row still looks plausible on its own)."""
    free = [r for r in rows if (table.name, row_key(table, r)) not in used]
    if len(free) < 2:
        return set()
    first, second = draw(st.lists(st.sampled_from(free), min_size=2, max_size=2, unique_by=lambda r: row_key(table, r)))
    fixed = {c.name for c in table.primary_key.columns} | _unique_names(table)
    names = [
        c.name
        for c in table.columns
        if c.name not in fixed
        and image_value(table.name, c.name, first[c.name]) != image_value(table.name, c.name, second[c.name])
    ]
    if not names:
        return set()
    name = draw(st.sampled_from(names))
    connection.execute(update(table).where(*_pk_where(table, first)).values({name: second[name]}))
    connection.execute(update(table).where(*_pk_where(table, second)).values({name: first[name]}))
    return {(table.name, row_key(table, first), "changed"), (table.name, row_key(table, second), "changed")}


def _tamper(draw: st.DrawFn, connection: Connection, table: Table, kind: str, done: set[Located]) -> set[Located]:
    used = {(t, k) for t, k, _kind in done}
    rows = _rows(connection, table)
    if not rows:
        return set()
    if kind == "swap":
        return _swap(draw, connection, table, rows, used)
    row = draw(st.sampled_from(rows))
    key = row_key(table, row)
    if (table.name, key) in used and kind != "insert":
        return set()
    found = _apply(draw, connection, table, row, key, kind)
    return set() if found is None else {found}


def _apply(
    draw: st.DrawFn, connection: Connection, table: Table, row: dict[str, Any], key: str, kind: str
) -> Located | None:
    if kind == "delete":
        connection.execute(delete(table).where(*_pk_where(table, row)))
        return (table.name, key, "deleted")
    if kind == "insert":
        copy = dict(row)
        for column in table.primary_key.columns:
            copy[column.name] = _new_key_value(connection, table, column.name)
        for name in _unique_names(table):
            copy[name] = _fresh(copy[name], table.columns[name])
        connection.execute(insert(table).values(**copy))
        return (table.name, row_key(table, copy), "not_in_trail")
    names = [c.name for c in table.columns if not c.primary_key]
    name = draw(st.sampled_from(names))
    value = _other_value(draw, connection, table, name, row[name])
    if value is None and not (table.columns[name].nullable and row[name] is not None):
        return None
    connection.execute(update(table).where(*_pk_where(table, row)).values({name: value}))
    return (table.name, key, "changed")


@st.composite
def _tampers(draw: st.DrawFn, connection: Connection) -> set[Located]:
    tables = gmp_tables()
    done: set[Located] = set()
    for _ in range(draw(st.integers(1, 3))):
        table = draw(st.sampled_from(tables))
        kind = draw(st.sampled_from(KINDS))
        try:
            with connection.begin_nested():
                if kind == "truncate":
                    done = _truncate(connection, table, done)
                else:
                    done |= _tamper(draw, connection, table, kind, done)
        except (IntegrityError, ProgrammingError):
            continue  # a parent row with children, an append-only table: the database itself refuses it
    return done


@pytest.mark.requirement("URS-AUD-030")
def test_every_direct_sql_edit_delete_or_insert_of_a_gmp_table_is_found_and_located(shop: Shop) -> None:
    engine = shop.services.engine
    tried: dict[str, int] = {}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        with engine.connect() as connection:
            transaction = connection.begin()
            if connection.dialect.name == "postgresql":
                # As a superuser would: no trigger, no foreign key check (the worst case of "behind the back").
                connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
            try:
                tampered = data.draw(_tampers(connection))
                with Session(bind=connection) as session:
                    report = reconcile(session)
                found = {(f.table, f.key, f.kind) for f in report.findings}
                assert found == tampered, [f.describe() for f in report.findings]
                for table, _key, kind in tampered:
                    tried[kind] = tried.get(kind, 0) + 1
                    tried[table] = tried.get(table, 0) + 1
                tried["examples"] = tried.get("examples", 0) + 1
            finally:
                transaction.rollback()

    check()
    # Most examples really tampered (the rest hit rows the database itself protects).
    assert sum(tried.get(k, 0) for k in ("changed", "deleted", "not_in_trail")) >= tried["examples"] // 2
