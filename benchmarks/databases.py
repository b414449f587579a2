"""A fresh PostgreSQL database for one benchmark run, dropped afterwards (the server: ``EBR_TEST_POSTGRES_URL``)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text

SERVER = os.environ.get("EBR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def fresh_postgres(prefix: str = "ebr_bench") -> Iterator[str]:
    """The URL of a new, empty database named ``<prefix>_<random>``; dropped (forced) on exit."""
    admin = create_engine(SERVER, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield SERVER.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
