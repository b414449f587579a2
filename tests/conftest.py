"""Shared fixtures: fresh SQLite and PostgreSQL databases, settings, services, app."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from ebr.bootstrap import Services, build_services
from ebr.core.clock import SystemClock
from ebr.core.config import Settings, load_settings
from tests.support.components import missing
from tests.support.databases import (
    PostgresDatabases,
    SqliteDatabases,
    postgres_reachable,
    postgres_server_url,
)
from tests.support.requirement_markers import refuse_undefined_requirements

BACKENDS = ["sqlite", "postgresql"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse to run when a test names a requirement id that is not defined."""
    refuse_undefined_requirements(items)
    _rerun_leaks_seen_by_another_test(items)


# What a socket or transport left to the garbage collector raises in whichever test runs when
# the collector does (warnings are errors here): the failing test is not the one that leaked.
# The last: Python 3.11's ast.parse (werkzeug compiles routes with it) broken by pytest's hook
# formatting that warning's traceback in the middle of the parse (docs/testing.md).
LEAK_SEEN_LATER = [
    "PytestUnraisableExceptionWarning",
    "unraisable exception warnings",
    "ResourceWarning: unclosed",
    "AST constructor recursion depth mismatch",
]


def _rerun_leaks_seen_by_another_test(items: list[pytest.Item]) -> None:
    """One visible rerun (``R``, named by ``-raR``) for a test failed by another test's leak.

    Only that failure is retried; any other failure fails at once. EBR_TEST_NO_RERUN=1 turns
    it off to chase the leak (docs/testing.md). The e2e tests have their own retry.
    """
    if os.environ.get("EBR_TEST_NO_RERUN"):
        return
    for item in items:
        if "tests/e2e/" not in item.nodeid:
            item.add_marker(pytest.mark.flaky(reruns=1, only_rerun=LEAK_SEEN_LATER))


@pytest.fixture(scope="session")
def sqlite_databases(tmp_path_factory: pytest.TempPathFactory) -> SqliteDatabases:
    dbs = SqliteDatabases(tmp_path_factory.mktemp("sqlite"))
    dbs.build_template()
    return dbs


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    url = postgres_server_url()
    reason = postgres_reachable(url)
    if reason is not None:
        missing("PostgreSQL", f"{url} is unreachable ({reason}); start it or set EBR_TEST_POSTGRES_URL")
    dbs = PostgresDatabases(url)
    yield dbs
    dbs.drop_all()


@pytest.fixture(scope="session")
def postgres_template(postgres_databases: PostgresDatabases) -> str:
    from tests.support.databases import migrate

    name = postgres_databases.create("ebr_tpl")
    migrate(postgres_databases.url_for(name))
    return name


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh database at the migration head, private to this test."""
    if backend == "sqlite":
        dbs: SqliteDatabases = request.getfixturevalue("sqlite_databases")
        yield dbs.fresh()
        return
    pg: PostgresDatabases = request.getfixturevalue("postgres_databases")
    template: str = request.getfixturevalue("postgres_template")
    name = pg.clone(template)
    yield pg.url_for(name)
    pg.discard(name)  # after every fixture that used it is torn down


@pytest.fixture
def empty_database_url(backend: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database (no schema), private to this test."""
    if backend == "sqlite":
        dbs: SqliteDatabases = request.getfixturevalue("sqlite_databases")
        yield dbs.empty()
        return
    pg: PostgresDatabases = request.getfixturevalue("postgres_databases")
    name = pg.create("ebr_e")
    yield pg.url_for(name)
    pg.discard(name)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        {"EBR_DATA_DIR": str(tmp_path / "data")},
        database_url=database_url,
        secret_key="test-secret-key",
        testing=True,
        secure_cookies=False,
    )


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    built = build_services(settings, clock=SystemClock())
    yield built
    built.close()


@pytest.fixture
def engine(services: Services) -> Engine:
    return services.engine


@pytest.fixture
def session_factory(services: Services) -> sessionmaker[Session]:
    return services.session_factory


@pytest.fixture
def app(services: Services) -> Flask:
    from ebr.app import create_app

    return create_app(services=services)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
