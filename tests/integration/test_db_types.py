"""Exact column types on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select
from sqlalchemy.exc import StatementError

from ebr.core.db import Quantity, UTCDateTime, make_engine

metadata = MetaData()
probe = Table(
    "type_probe",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime()),
    Column("qty", Quantity()),
)


@pytest.fixture
def probe_engine(database_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(database_url)
    metadata.create_all(engine)
    yield engine
    metadata.drop_all(engine)
    engine.dispose()


@pytest.mark.requirement("URS-SYS-001")
def test_aware_times_come_back_aware_in_utc(probe_engine) -> None:  # type: ignore[no-untyped-def]
    cet = dt.timezone(dt.timedelta(hours=1))
    with probe_engine.begin() as conn:
        conn.execute(insert(probe).values(id=1, at=dt.datetime(2026, 11, 24, 21, 0, 0, 123456, tzinfo=cet)))
    with probe_engine.connect() as conn:
        value = conn.execute(select(probe.c.at)).scalar_one()
    assert value == dt.datetime(2026, 11, 24, 20, 0, 0, 123456, tzinfo=dt.UTC)
    assert value.utcoffset() == dt.timedelta(0)


@pytest.mark.requirement("URS-SYS-001")
def test_naive_times_are_refused(probe_engine) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(StatementError, match="naive datetime refused"), probe_engine.begin() as conn:
        conn.execute(insert(probe).values(id=2, at=dt.datetime(2026, 11, 24)))  # noqa: DTZ001 - under test


@pytest.mark.requirement("URS-SYS-002")
@pytest.mark.parametrize("text", ["12.500", "0.000001", "123456789012345678.123456789", "-3.10"])
def test_quantities_keep_every_digit(probe_engine, text: str) -> None:  # type: ignore[no-untyped-def]
    with probe_engine.begin() as conn:
        conn.execute(insert(probe).values(id=3, qty=Decimal(text)))
    with probe_engine.connect() as conn:
        value = conn.execute(select(probe.c.qty)).scalar_one()
    assert isinstance(value, Decimal)
    assert format(value, "f") == text


@pytest.mark.requirement("URS-SYS-002")
def test_floats_are_refused_for_quantities(probe_engine) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(StatementError, match="float refused"), probe_engine.begin() as conn:
        conn.execute(insert(probe).values(id=4, qty=0.1))
