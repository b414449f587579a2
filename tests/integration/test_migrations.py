"""Migrations: fresh upgrade, models match migrations, and the round trip."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from ebr import schema
from ebr.core.db import Base, make_engine
from ebr.tables import load_all_models


def _differences(url: str) -> list[object]:
    load_all_models()
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


@pytest.mark.requirement("URS-SYS-003")
def test_a_fresh_database_upgrades_to_the_head(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    try:
        assert schema.status(engine).current == frozenset()
        schema.upgrade(engine)
        state = schema.status(engine)
        assert state.at_head, state.describe()
    finally:
        engine.dispose()


@pytest.mark.requirement("URS-SYS-003")
def test_the_models_match_the_migrations_exactly(database_url: str) -> None:
    assert _differences(database_url) == []


@pytest.mark.requirement("URS-SYS-003")
def test_upgrade_downgrade_to_base_and_upgrade_again(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        schema.downgrade(engine, "base")
        assert schema.current_revisions(engine) == set()
        schema.upgrade(engine)
        assert schema.status(engine).at_head
    finally:
        engine.dispose()
    assert _differences(database_url) == []
