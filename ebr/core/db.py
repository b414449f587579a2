"""Database foundation: engine, sessions, declarative base and exact column types.

* SQLite runs in WAL mode with foreign keys on, and every transaction starts with
  ``BEGIN IMMEDIATE`` so writers are serialized (the audit chain relies on it). This
  uses the pysqlite event hooks documented by SQLAlchemy ("Serializable isolation /
  Savepoints / Transactional DDL").
* PostgreSQL is reached through psycopg 3 under READ COMMITTED.
* ``UTCDateTime`` refuses naive datetimes and always returns aware UTC values.
* ``Quantity`` stores a ``Decimal`` exactly (NUMERIC on PostgreSQL, text on SQLite,
  whose NUMERIC affinity would round through a float).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, ClassVar, cast

from sqlalchemy import DateTime, Engine, Executable, MetaData, Numeric, String, Table, create_engine, event, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, make_transient_to_detached, sessionmaker
from sqlalchemy.types import TypeDecorator, TypeEngine

from ebr.core.clock import UTC

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware timestamp stored in UTC. Naive datetimes are a bug and are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: a GMP timestamp must carry its time zone (use UTC)")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Quantity(TypeDecorator[Decimal]):
    """An exact decimal quantity; keeps its significant digits (``12.500`` stays ``12.500``)."""

    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(64))
        return dialect.type_descriptor(Numeric(asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("float refused for a quantity: pass a Decimal or a decimal string")
        try:
            number = value if isinstance(value, Decimal) else Decimal(str(value))
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a decimal number") from None
        if not number.is_finite():
            raise ValueError(f"{value!r} is not a finite quantity")
        return format(number, "f") if dialect.name == "sqlite" else number

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))


class Base(DeclarativeBase):
    """Declarative base of every table; aware datetimes and Decimals map to the exact types."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: UTCDateTime(), Decimal: Quantity()}


def _sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, emit BEGIN (documented pysqlite workaround).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock at once: concurrent appends to the audit
        # chain queue here instead of failing later with "database is locked".
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create the engine for ``url`` with the per-dialect settings described above."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kwargs)
        _sqlite_hooks(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("isolation_level", "READ COMMITTED")
    return create_engine(url, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit (records are read after they are written)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commits when the block ends, rolls back on any error."""
    with factory() as session, session.begin():
        yield session


def insert_as_flushed(session: Session, objects: Sequence[Base]) -> None:
    """INSERT new ``objects`` of one mapped class by one executemany and make them the session's, as a flush would.

    For hot paths, where the unit of work's flush costs several times the round trip.
    Every column must be set on each object: nothing is defaulted or read back. Executed
    through the session, so ORM execution hooks (the row images of ``ebr.ops.images``) see it.
    """
    if not objects:
        return
    table = cast(Table, type(objects[0]).__table__)
    session.execute(insert_statement(table), [{c.key: getattr(o, c.key) for c in table.columns} for o in objects])
    for obj in objects:
        make_transient_to_detached(obj)
        session.add(obj)


@cache
def insert_statement(table: Table) -> Executable:
    """``INSERT INTO table`` built once (building a statement costs more than a short round trip)."""
    return insert(table)
