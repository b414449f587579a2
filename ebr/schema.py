"""Schema management with Alembic: upgrade, downgrade, current revision, health.

The migration scripts live in the ``migrations`` package and are found through
its installed location, so this works from a checkout and from a wheel alike.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

import migrations
from ebr.core.errors import DatabaseError, SchemaMismatch


def alembic_config() -> Config:
    """An Alembic config pointing at the shipped migration scripts."""
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    return config


def script_heads() -> set[str]:
    """The head revisions of the shipped scripts (one per package branch)."""
    return set(_shipped_heads())


@functools.cache
def _shipped_heads() -> frozenset[str]:
    # The scripts ship with the code and change only with it: read them once per process,
    # not at every app start and /healthz (Alembic imports each of the ~130 script files).
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


def _run(engine: Engine, action: str, revision: str) -> None:
    config = alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            if action == "upgrade":
                command.upgrade(config, revision)
            else:
                command.downgrade(config, revision)
    except OperationalError as exc:
        raise DatabaseError(f"cannot reach the database: {exc.orig}") from exc
    except CommandError as exc:
        raise DatabaseError(f"migration {action} to {revision!r} failed: {exc}") from exc


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Upgrade the schema (default: to every head)."""
    _run(engine, "upgrade", revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Downgrade the schema to ``revision`` (``base`` removes everything)."""
    _run(engine, "downgrade", revision)


def current_revisions(engine: Engine) -> set[str]:
    """Revisions the database is at (empty for a fresh database)."""
    try:
        with engine.connect() as connection:
            return set(MigrationContext.configure(connection).get_current_heads())
    except OperationalError as exc:
        raise DatabaseError(f"cannot reach the database: {exc.orig}") from exc
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot read the schema revision: {exc}") from exc


@dataclass(frozen=True)
class SchemaStatus:
    """What /healthz and ``ebr db current`` report."""

    reachable: bool
    current: frozenset[str]
    heads: frozenset[str]
    error: str | None = None

    @property
    def at_head(self) -> bool:
        return self.reachable and self.current == self.heads

    def describe(self) -> str:
        if not self.reachable:
            return f"database unreachable: {self.error}"
        if self.at_head:
            return "schema at head: " + ", ".join(sorted(self.current))
        if not self.current:
            return "database is empty: run `ebr db upgrade` (or `ebr init`)"
        return (
            f"schema at {', '.join(sorted(self.current))} but the code expects "
            f"{', '.join(sorted(self.heads))}: run `ebr db upgrade`"
        )


def status(engine: Engine) -> SchemaStatus:
    """Reachability and migration state of the database; never raises."""
    heads = frozenset(script_heads())
    try:
        current = frozenset(current_revisions(engine))
    except DatabaseError as exc:
        return SchemaStatus(False, frozenset(), heads, str(exc))
    return SchemaStatus(True, current, heads)


def require_head(engine: Engine) -> None:
    """Raise SchemaMismatch unless the database is reachable and at the head."""
    state = status(engine)
    if not state.reachable:
        raise DatabaseError(state.describe())
    if not state.at_head:
        raise SchemaMismatch(state.describe())
