"""Step completion through the service layer vs a plain insert of the same data.

The service call locks the batch, checks the optimistic version and the graph,
runs the phase logic, applies the operator's electronic signature (password check
with Argon2id, Ed25519 signature), updates the step, makes the next step ready and
appends the chained audit events, all in one transaction. The baseline inserts one
row with the same facts (batch, step, state, who, when, meaning) in its own
transaction on the same database. A second row shows the engine alone (a phase
that needs no signature).

    python -m benchmarks.execution_steps [N]      (default 100 completions each)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from sqlalchemy import text

from benchmarks.execution_setup import PASSWORD, long_recipe, services_for, started_batch, timed
from benchmarks.table import Row, median, print_table
from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.materials.services import Credentials


def _service(services: Services, n: int, *, signed: bool) -> list[float]:
    execution, number = started_batch(services, long_recipe(1, n, signed=signed))
    signatures = [Credentials("olga", PASSWORD)] if signed else []
    times = []
    for index in range(1, n + 1):
        path = f"UP1.OP1.PH{index}"
        with unit_of_work(services.session_factory) as session:
            execution.start_step(session, actor="olga", ref=number, path=path)

        def complete(path: str = path) -> None:
            with unit_of_work(services.session_factory) as session:
                execution.complete_step(session, actor="olga", ref=number, path=path, signatures=signatures)

        times.append(timed(complete))
    return times


def _plain(services: Services, n: int) -> list[float]:
    with services.engine.begin() as conn:
        conn.execute(text(
            "CREATE TABLE bench_plain (id INTEGER PRIMARY KEY, batch TEXT, path TEXT, state TEXT, "
            "done_by TEXT, done_at TEXT, meaning TEXT)"
        ))  # fmt: skip
    times = []
    for index in range(n):

        def insert(index: int = index) -> None:
            with unit_of_work(services.session_factory) as session:
                session.execute(
                    text("INSERT INTO bench_plain VALUES (:i, 'B1', :p, 'Complete', 'olga', :t, 'performed')"),
                    {"i": index, "p": f"UP1.OP1.PH{index}", "t": services.clock.now().isoformat()},
                )

        times.append(timed(insert))
    return times


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    n = int(args[0]) if args else 100
    with tempfile.TemporaryDirectory() as tmp:
        services = services_for(f"sqlite:///{Path(tmp) / 'bench.sqlite'}", Path(tmp))
        try:
            signed = median(_service(services, n, signed=True)) * 1000
            unsigned = median(_service(services, n, signed=False)) * 1000
            plain = median(_plain(services, n)) * 1000
        finally:
            services.close()
    print_table(
        f"Step completion, SQLite, median of {n}",
        [
            Row("complete step: service + audit + signature", signed, plain, "ms", "ratio only"),
            Row("complete step: service + audit, no signature", unsigned, plain, "ms", "ratio only"),
        ],
        baseline_name="plain insert",
    )


if __name__ == "__main__":
    main()
