"""Records ↔ trail reconciliation (``ebr audit verify --records``) vs a plain SELECT of the same rows.

Builds N batches (default 1,000) through the application: each created from a
13-step recipe, released, started and three phases executed, every transaction with
its audit events and row images, so the trail and the tables have a realistic shape.
Then times ``ebr.ops.records.reconcile`` (reads every images event, parses it, reads
every GMP row and compares) against ``SELECT *`` of every GMP table, fetched.

    python -m benchmarks records_verify            (or: python -m benchmarks.records_verify [N] [--postgres])
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from audit.models import AuditEvent
from benchmarks.execution_setup import long_recipe, services_for, started_batch
from benchmarks.table import Row, print_table
from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.ops.images import gmp_tables
from ebr.ops.records import reconcile

STEPS_RUN = ("UP1.OP1.PH1", "UP1.OP1.PH2", "UP1.OP1.PH3")


def _fill(services: Services, batches: int) -> None:
    recipe = long_recipe(2, 5, signed=False)
    for _ in range(batches):
        execution, number = started_batch(services, recipe)
        for path in STEPS_RUN:
            with unit_of_work(services.session_factory) as session:
                execution.start_step(session, actor="olga", ref=number, path=path)
            with unit_of_work(services.session_factory) as session:
                execution.complete_step(session, actor="olga", ref=number, path=path)


def _plain_select(services: Services) -> int:
    rows = 0
    with services.session_factory() as session:
        for table in gmp_tables():
            rows += len(session.connection().execute(select(table)).all())
    return rows


def _best(fn: object, repeat: int = 3) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - started)
    return best, result


def _measure(backend: str, url: str, batches: int, workdir: Path) -> list[Row]:
    services = services_for(url, workdir / "data")
    try:
        started = time.perf_counter()
        _fill(services, batches)
        fill = time.perf_counter() - started

        def check() -> object:
            with services.session_factory() as session:
                return reconcile(session)

        verify, report = _best(check)
        plain, rows = _best(lambda: _plain_select(services))
        if not report.ok or report.rows != rows:  # type: ignore[attr-defined]
            raise RuntimeError(f"the benchmark records do not reconcile: {report.findings[:3]}")  # type: ignore[attr-defined]
        with services.session_factory() as session:
            events = session.scalar(select(func.count()).select_from(AuditEvent))
    finally:
        services.close()
    print(f"{backend}: {batches} batches built in {fill:.1f} s; {rows:,} GMP rows, {events:,} audit events")
    return [Row(f"{backend}: verify --records, {batches:,} batches", verify, plain, "s", "ratio ≤ 25")]


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--") and a.isdigit()]
    batches = int(args[0]) if args else 1_000
    backends = ["sqlite", "postgresql"] if "--postgres" in sys.argv else ["sqlite"]
    rows: list[Row] = []
    for backend in backends:
        with tempfile.TemporaryDirectory() as tmp:
            dbs = None
            if backend == "postgresql":
                from tests.support.databases import PostgresDatabases, postgres_server_url

                dbs = PostgresDatabases(postgres_server_url())
                url = dbs.url_for(dbs.create("ebr_bench"))
            else:
                url = f"sqlite:///{Path(tmp) / 'records.sqlite'}"
            try:
                rows += _measure(backend, url, batches, Path(tmp))
            finally:
                if dbs is not None:
                    dbs.drop_all()
    print_table("Records reconciliation vs a plain SELECT of the same rows", rows, baseline_name="plain SELECT")


if __name__ == "__main__":
    main()
