"""Run guards: "this process alone runs job X now", across processes and hosts.

* PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) taken on a
  dedicated connection and released when the run ends. If the process dies the
  server drops the connection and with it the lock, so a crashed scheduler never
  blocks a job for good. The lock only says "nobody else is running it now"; the
  run ledger (``scheduled_job.last_slot``, read after the lock is held) says
  "nobody already ran this slot", and together they give exactly-once per slot.
* SQLite (one host by nature): an exclusive non-blocking ``flock`` on a file next
  to the database. A transaction held open for the run cannot be the guard here,
  because every SQLite writer starts with ``BEGIN IMMEDIATE``: the job's own
  writes would wait behind it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine, text


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for job ``name``."""
    digest = hashlib.sha256(f"ebr.job:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class RunGuard(Protocol):
    """Mutual exclusion of one job's runs across every scheduler process."""

    def hold(self, name: str) -> AbstractContextManager[bool]:
        """Context manager yielding True when this process holds the job, False when another does."""


class PostgresAdvisoryGuard:
    """Session-level advisory lock per job on a dedicated connection."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def hold(self, name: str) -> Iterator[bool]:
        key = lock_key(name)
        with self.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            acquired = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
            try:
                yield acquired
            finally:
                if acquired:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})


class FileLockGuard:
    """Exclusive ``flock`` per job on files in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @contextmanager
    def hold(self, name: str) -> Iterator[bool]:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{name}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def guard_for(engine: Engine, fallback_dir: Path) -> PostgresAdvisoryGuard | FileLockGuard:
    """The right guard for the engine's database.

    SQLite lock files sit next to the database file (``<file>.locks/``) so every
    process that opens that database finds the same locks; ``fallback_dir`` serves
    an in-memory database.
    """
    if engine.dialect.name == "postgresql":
        return PostgresAdvisoryGuard(engine)
    database = engine.url.database
    if database in (None, "", ":memory:"):
        return FileLockGuard(fallback_dir / "locks")
    path = Path(database)
    return FileLockGuard(path.parent / f"{path.name}.locks")
