"""Batch numbers: ``B<day>-<nnnn>``, one counter row a day, gapless and unique under concurrent creators.

The number is counted up in ``batch_number`` in the creating transaction: a rolled-back
creation gives its number back, a concurrent creator waits for the commit and counts
on. Creators that wrote an audit event before numbering their batch (the ERP consumer
does) and creators that did not must not deadlock: the audit chain's lock is always
taken first.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import threading
from collections import defaultdict
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from audit.chain import Entity
from ebr import schema
from ebr.core.clock import FixedClock
from ebr.core.db import make_engine, unit_of_work
from ebr.execution import batches
from ebr.execution.models import Batch, BatchNumber
from tests.integration.execution.conftest import SIMPLE, Floor, recipe

NUMBER = re.compile(r"B(\d{8})-(\d{4,})")


class Undo(Exception):
    """Raised inside a unit of work to roll it back."""


def committed(floor: Floor) -> list[str]:
    with floor.services.session_factory() as session:
        return list(session.scalars(select(Batch.number)))


def gapless(numbers: list[str]) -> dict[str, list[int]]:
    """Each day's suffixes, checked to be exactly 1..n (no gap, no duplicate, the format kept)."""
    days: dict[str, list[int]] = defaultdict(list)
    for number in numbers:
        found = NUMBER.fullmatch(number)
        assert found, f"{number!r} is not B<yyyymmdd>-<nnnn>"
        days[found.group(1)].append(int(found.group(2)))
    for day, suffixes in days.items():
        assert sorted(suffixes) == list(range(1, len(suffixes) + 1)), f"{day}: {sorted(suffixes)}"
    return days


@pytest.mark.requirement("URS-INT-026")
def test_numbers_count_up_per_day_and_a_rolled_back_batch_gives_its_number_back(floor: Floor) -> None:
    clock = FixedClock(dt.datetime(2026, 12, 5, 23, 59, tzinfo=dt.UTC))
    ctx = dataclasses.replace(floor.execution.ctx, clock=clock)
    master = recipe(SIMPLE)

    def create(*, keep: bool = True) -> str:
        with unit_of_work(floor.services.session_factory) as session:
            number = batches.create_from_recipe(
                session, ctx, actor="sam", master=master, version="1", size="100", order="PO-N"
            ).number
            if not keep:
                raise Undo(number)
        return number

    assert [create(), create()] == ["B20261205-0001", "B20261205-0002"]
    with pytest.raises(Undo, match="B20261205-0003"):
        create(keep=False)
    assert create() == "B20261205-0003"  # given back, no gap
    clock.advance(minutes=2)
    assert [create(), create()] == ["B20261206-0001", "B20261206-0002"]
    with floor.services.session_factory() as session:
        rows = {r.day: r.last for r in session.scalars(select(BatchNumber))}
    assert rows == {"20261205": 3, "20261206": 2}


@pytest.mark.requirement("URS-INT-026")
def test_concurrent_creators_get_unique_gapless_numbers_without_deadlock(floor: Floor) -> None:
    """Threads on their own connections, half of them auditing something before the batch, some rolling back."""
    master = recipe(SIMPLE)
    workers, each = 6, 5
    start = threading.Barrier(workers)
    made: list[str] = []
    errors: list[BaseException] = []
    guard = threading.Lock()

    def work(worker: int) -> None:
        try:
            start.wait()
            for n in range(each):
                try:
                    with unit_of_work(floor.services.session_factory) as session:
                        if worker % 2:  # as the ERP consumer: an audit event of an earlier message first
                            entity = Entity("test", f"w{worker}-{n}")
                            floor.services.audit.record(session, actor="sam", action="test.before", entity=entity)
                        number = floor.execution.create_from_recipe(
                            session, actor="sam", master=master, version="1", size="100", order=f"PO-{worker}-{n}"
                        ).number
                        if (worker + n) % 4 == 0:
                            raise Undo(number)
                    with guard:
                        made.append(number)
                except Undo:
                    pass
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a creator hung (deadlock?)"
    assert errors == []
    rolled_back = sum(1 for w in range(workers) for n in range(each) if (w + n) % 4 == 0)
    assert len(made) == workers * each - rolled_back
    assert sorted(committed(floor)) == sorted(made)
    assert sum(len(v) for v in gapless(made).values()) == len(made)


@pytest.mark.requirement("URS-INT-026")
def test_any_sequence_of_commits_and_rollbacks_over_days_stays_gapless(floor: Floor) -> None:
    master = recipe(SIMPLE)
    clock = FixedClock(dt.datetime(2027, 1, 1, 12, tzinfo=dt.UTC))
    ctx = dataclasses.replace(floor.execution.ctx, clock=clock)
    expected: dict[str, int] = defaultdict(int)

    @settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=6))
    def run(steps: list[tuple[bool, bool]]) -> None:
        for keep, next_day in steps:
            if next_day:
                clock.advance(days=1)
            day = clock.now().strftime("%Y%m%d")
            try:
                with unit_of_work(floor.services.session_factory) as session:
                    number = batches.create_from_recipe(
                        session, ctx, actor="sam", master=master, version="1", size="100", order="PO-H"
                    ).number
                    assert number == f"B{day}-{expected[day] + 1:04d}"
                    if not keep:
                        raise Undo(number)
                expected[day] += 1
            except Undo:
                pass
        assert {d: len(v) for d, v in gapless(committed(floor)).items()} == {d: n for d, n in expected.items() if n}

    run()


@pytest.mark.requirement("URS-INT-026", "URS-SYS-003")
def test_the_migration_starts_each_days_counter_at_the_highest_number_given(floor: Floor, database_url: str) -> None:
    master = recipe(SIMPLE)
    clock = FixedClock(dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC))
    ctx = dataclasses.replace(floor.execution.ctx, clock=clock)

    def create() -> str:
        with unit_of_work(floor.services.session_factory) as session:
            number: str = batches.create_from_recipe(
                session, ctx, actor="sam", master=master, version="1", size="100", order="PO-M"
            ).number
            return number

    made = [create(), create(), create()]
    clock.advance(days=1)
    made.append(create())
    floor.services.engine.dispose()
    engine = make_engine(database_url)
    try:
        schema.downgrade(engine, "app_0004_yield")  # an installation from before the counter
        with engine.begin() as conn:
            assert "batch_number" not in _tables(conn)
        schema.upgrade(engine)
        assert schema.status(engine).at_head
    finally:
        engine.dispose()
    with floor.services.session_factory() as session:
        rows = {r.day: r.last for r in session.scalars(select(BatchNumber))}
    assert rows == {"20260301": 3, "20260302": 1}
    assert made == ["B20260301-0001", "B20260301-0002", "B20260301-0003", "B20260302-0001"]
    assert create() == "B20260302-0002"


def _tables(conn: Any) -> set[str]:
    if conn.dialect.name == "postgresql":
        return set(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars())
    return set(conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'")).scalars())
