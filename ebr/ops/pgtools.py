"""``pg_dump`` / ``pg_restore`` for PostgreSQL backups, with a version check.

``pg_dump`` can dump a server of its own major version or older, never newer; a
client older than the server is refused up front with the package to install,
instead of failing half-way. The password travels in ``PGPASSWORD``, never on a
command line (which other users of the host can read in ``ps``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from sqlalchemy import Engine, text

from ebr.core.errors import DatabaseError

ZERO = "0" * 64


def conninfo(engine: Engine) -> tuple[str, dict[str, str]]:
    """A libpq URL without the password, and an environment carrying it in PGPASSWORD."""
    url = engine.url
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return url.set(drivername="postgresql", password=None).render_as_string(hide_password=False), env


def client_major(tool: str) -> tuple[str, int]:
    """Path and major version of a PostgreSQL client tool; DatabaseError when it is missing."""
    path = shutil.which(tool)
    if path is None:
        raise DatabaseError(f"{tool} is not installed; install the Debian package postgresql-client")
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=True).stdout  # noqa: S603
    match = re.search(r"\)\s*(\d+)", out)
    if match is None:
        raise DatabaseError(f"cannot read the version of {path} from {out.strip()!r}")
    return path, int(match.group(1))


def server_major(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000


def _tool_for(engine: Engine, tool: str) -> str:
    path, client = client_major(tool)
    server = server_major(engine)
    if client < server:
        raise DatabaseError(
            f"{tool} {client} cannot handle a PostgreSQL {server} server; install postgresql-client-{server}"
        )
    return path


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise DatabaseError(f"{what} failed (exit {done.returncode}): {done.stderr.strip()}")


def dump(engine: Engine, target: Path) -> tuple[int, str]:
    """Dump the database into ``target``; return the audit head ``(seq, hash)`` of the dump.

    The head is read in the transaction whose snapshot ``pg_dump`` uses, so it is
    exactly the head of the dumped data even while the plant keeps writing.
    """
    tool = _tool_for(engine, "pg_dump")
    dsn, env = conninfo(engine)
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            row = conn.execute(text("SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1")).first()
            command = [tool, "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot}"]
            _run([*command, f"--file={target}", f"--dbname={dsn}"], env, "pg_dump")
    return (0, ZERO) if row is None else (int(row[0]), str(row[1]))


def restore(engine: Engine, source: Path) -> None:
    """Restore a custom-format dump into the (empty) database, all or nothing."""
    tool = _tool_for(engine, "pg_restore")
    dsn, env = conninfo(engine)
    options = ["--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
    _run([tool, *options, f"--dbname={dsn}", str(source)], env, "pg_restore")
