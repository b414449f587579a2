"""Fresh databases for every test, cloned from one migrated template per run.

SQLite: the template is a migrated file, each test gets a copy. PostgreSQL: a
template database ``ebr_tpl_<run>`` is migrated once and every test gets
``CREATE DATABASE ebr_t_<random> TEMPLATE ebr_tpl_<run>``. Background threads keep
the next clone ready while a test runs and drop each finished test's database
(``CREATE``/``DROP DATABASE`` cost 0.1–0.8 s each, mostly waiting on the server's disk);
whatever is left is dropped at the end.
"""

from __future__ import annotations

import os
import secrets
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ebr import schema
from ebr.core.db import make_engine

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_server_url() -> str:
    return os.environ.get("EBR_TEST_POSTGRES_URL", DEFAULT_PG)


def postgres_reachable(url: str) -> str | None:
    """None when reachable, else the reason."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "not available", reported verbatim
        return str(exc).splitlines()[0]
    finally:
        engine.dispose()
    return None


class PostgresDatabases:
    """Creates and drops databases on one server."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
        self.created: list[str] = []
        self._lock = threading.Lock()
        # One thread makes the next clone, another drops: a clone never waits behind a drop.
        self._maker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ebr-test-db-create")
        self._dropper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ebr-test-db-drop")
        self._ready: dict[str, Future[str]] = {}  # template → its next clone, being made

    def url_for(self, name: str) -> str:
        return make_url(self.server_url).set(database=name).render_as_string(hide_password=False)

    def create(self, prefix: str, template: str | None = None) -> str:
        name = f"{prefix}_{secrets.token_hex(6)}"
        clause = f" TEMPLATE {template}" if template else ""
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"{clause}'))
        with self._lock:
            self.created.append(name)
        return name

    def clone(self, template: str) -> str:
        """A fresh copy of ``template``, made while the previous test ran; the next one starts now.

        Nothing connects to the template but ``CREATE DATABASE``, so the copy is the template
        as migrated, whenever it is made.
        """
        ahead = self._ready.pop(template, None)
        name = ahead.result() if ahead is not None else self.create("ebr_t", template=template)
        self._ready[template] = self._maker.submit(self.create, "ebr_t", template)
        return name

    def discard(self, name: str) -> None:
        """Drop ``name`` in the background (its test is over); a failed drop is retried by drop_all."""
        self._dropper.submit(self.drop, name)

    def drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        with self._lock:
            if name in self.created:
                self.created.remove(name)

    def drop_all(self) -> None:
        self._maker.shutdown(wait=True)
        self._dropper.shutdown(wait=True)
        for name in list(reversed(self.created)):
            self.drop(name)
        self.admin.dispose()


def migrate(url: str) -> None:
    engine = make_engine(url)
    try:
        schema.upgrade(engine)
    finally:
        engine.dispose()


class SqliteDatabases:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.template = root / "template.sqlite"

    def url_for(self, path: Path) -> str:
        return f"sqlite:///{path.as_posix()}"

    def build_template(self) -> None:
        migrate(self.url_for(self.template))
        # Fold the WAL into the main file so a plain copy is complete.
        engine = create_engine(self.url_for(self.template))
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()

    def fresh(self) -> str:
        path = self.root / f"t_{secrets.token_hex(6)}.sqlite"
        shutil.copyfile(self.template, path)
        return self.url_for(path)

    def empty(self) -> str:
        return self.url_for(self.root / f"empty_{secrets.token_hex(6)}.sqlite")


@contextmanager
def engine_for(url: str) -> Iterator[object]:
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
