"""Operations overhead: a guarded scheduled run vs a bare call; backup vs a raw copy.

* **Job run**: one run of a job that appends one audit event, through
  :class:`ebr.jobs.runner.JobRunner` (advisory lock / file lock, ledger read and
  write: two more transactions) vs calling the same job function directly. Jobs run
  every 30 s or less often, so the goal is absolute: under 20 ms added per run.
* **Backup**: ``ebr backup`` of a trail of N events (online backup or pg_dump in an
  exported snapshot, key and log copies, checksums, manifest) vs the plain copy
  (``shutil.copyfile`` of the SQLite file / plain ``pg_dump -Fc``). Goal: under 1 s per
  10,000 events (the fixed cost of the schema check and checksums dominates small trails).

    python -m benchmarks.ops [N_EVENTS] [--no-postgres]
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

from audit.chain import Entity
from benchmarks.table import Row, median, print_table
from ebr import schema
from ebr.bootstrap import Services, build_services
from ebr.core.clock import UTC, FixedClock
from ebr.core.config import load_settings
from ebr.core.db import unit_of_work
from ebr.jobs.guards import guard_for
from ebr.jobs.runner import JobContext, JobRunner, JobSpec
from ebr.ops import pgtools
from ebr.ops.backup import make_backup
from ebr.trail import services as audit_service
from tests.support.databases import PostgresDatabases, postgres_reachable, postgres_server_url

RUNS = 150


def _append(context: JobContext) -> None:
    with unit_of_work(context.services.session_factory) as session:
        context.services.audit.record(session, actor=context.actor, action="bench.tick", entity=Entity("bench", "x"))


def _job_rows(services: Services, clock: FixedClock, work: Path, label: str) -> Row:
    spec = JobSpec(name="bench", func=_append, every=dt.timedelta(seconds=1), description="bench", gmp=False)
    runner = JobRunner(services=services, specs=[spec], guard=guard_for(services.engine, work))
    bare, guarded = [], []
    for _ in range(RUNS):
        clock.advance(seconds=1)
        start = time.perf_counter()
        _append(JobContext(services=services, slot=clock.now()))
        bare.append(time.perf_counter() - start)
        start = time.perf_counter()
        runner.run("bench")
        guarded.append(time.perf_counter() - start)
    return Row(
        f"{label}: guarded job run (median of {RUNS})", median(guarded) * 1e3, median(bare) * 1e3, "ms", "+< 20 ms"
    )


def _fill(services: Services, events: int) -> None:
    audit_service.ensure_system_key(services)
    for start in range(0, events, 1000):
        with unit_of_work(services.session_factory) as session:
            for n in range(start, min(events, start + 1000)):
                services.audit.record(
                    session, actor="bench", action="bench.value", entity=Entity("b", str(n)), after={"n": n}
                )


def _raw_copy(services: Services, target: Path) -> None:
    if services.engine.dialect.name == "sqlite":
        path = str(services.engine.url.database)
        services.engine.dispose()
        with closing(sqlite3.connect(path)) as conn:  # fold the WAL in so the file alone is complete
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        shutil.copyfile(path, target)
        return
    tool, _ = pgtools.client_major("pg_dump")
    dsn, env = pgtools.conninfo(services.engine)
    subprocess.run([tool, "--format=custom", f"--file={target}", f"--dbname={dsn}"], env=env, check=True)


def _backup_row(services: Services, work: Path, events: int, label: str) -> Row:
    _fill(services, events)
    start = time.perf_counter()
    _raw_copy(services, work / "raw.copy")
    raw = time.perf_counter() - start
    start = time.perf_counter()
    make_backup(services, work / "backup")
    full = time.perf_counter() - start
    return Row(f"{label}: ebr backup of {events} events", full * 1e3, raw * 1e3, "ms", "< 1 s per 10k")


def _case(url: str, work: Path, events: int, label: str) -> list[Row]:
    clock = FixedClock(dt.datetime(2026, 11, 24, tzinfo=UTC))
    services = build_services(load_settings({"EBR_DATA_DIR": str(work / "data")}, database_url=url), clock=clock)
    try:
        schema.upgrade(services.engine)
        return [_job_rows(services, clock, work, label), _backup_row(services, work, events, label)]
    finally:
        services.close()


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--") and a.isdigit()]
    events = int(args[0]) if args else 20_000
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "sqlite").mkdir()
        rows += _case(f"sqlite:///{work / 'sqlite' / 'bench.sqlite'}", work / "sqlite", events, "SQLite")
        server = postgres_server_url()
        if "--no-postgres" not in sys.argv and postgres_reachable(server) is None:
            databases = PostgresDatabases(server)
            try:
                (work / "pg").mkdir()
                rows += _case(databases.url_for(databases.create("ebr_bench")), work / "pg", events, "PostgreSQL")
            finally:
                databases.drop_all()
    print_table("Operations: guarded job runs and backups", rows, baseline_name="bare/raw copy")


if __name__ == "__main__":
    main()
