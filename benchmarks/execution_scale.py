"""Cost per step does not grow with the batch: step 10,000 of a 10,000-step batch vs step 100.

A control recipe of 100 operations × 100 phases (one unit procedure). The engine
runs steps 1–150 (start and complete, each its own transaction with its audit
events); then the batch is brought forward to step 9,851 the way the engine would
have left it (steps and operations complete, one audit event per transition
appended through the real audit trail, so the trail is as long as in a real run),
and the engine runs steps 9,851–10,000, each one beside step 1–150 of a fresh
batch in the same database, so both figures see the same machine load (the machine
is shared; a figure taken minutes earlier drifts with it). Figure: median time per
step of steps 9,901–10,000 against steps 51–150 of the fresh batch. Goal: ratio
≤ 1.2. The second row compares with the big batch's own steps 51–150, measured
earlier.

    python -m benchmarks.execution_scale [--full]   (--full runs all 10,000 steps through the engine)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from sqlalchemy import select, update

from audit.chain import Entity
from benchmarks.execution_setup import long_recipe, services_for, started_batch, timed
from benchmarks.table import Row, median, print_table
from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.execution.models import BatchStep
from ebr.execution.service import Execution

OPS, PHASES = 100, 100


def path_of(step: int) -> str:
    """Step 1 is UP1.OP1.PH1, step 101 is UP1.OP2.PH1."""
    return f"UP1.OP{(step - 1) // PHASES + 1}.PH{(step - 1) % PHASES + 1}"


def run(services: Services, execution: Execution, number: str, first: int, last: int) -> dict[int, float]:
    times: dict[int, float] = {}
    for step in range(first, last + 1):
        path = path_of(step)

        def one(path: str = path) -> None:
            with unit_of_work(services.session_factory) as session:
                execution.start_step(session, actor="olga", ref=number, path=path)
            with unit_of_work(services.session_factory) as session:
                execution.complete_step(session, actor="olga", ref=number, path=path)

        times[step] = timed(one)
    return times


def fast_forward(services: Services, execution: Execution, number: str, done: int, to: int) -> None:
    """Complete steps ``done+1 … to-1`` directly, as the engine would have, and make step ``to`` ready."""
    with unit_of_work(services.session_factory) as session:
        batch = execution.batch(session, number)
        target = execution.ctx.step(session, batch, path_of(to))
        current_op = target.parent
        rows = BatchStep.batch_id == batch.id
        session.execute(update(BatchStep).where(rows, BatchStep.level == "phase", BatchStep.position < target.position)
                        .values(state="Complete", ready=True))  # fmt: skip
        ops = select(BatchStep).where(rows, BatchStep.level == "operation", BatchStep.path != current_op)
        for op in session.scalars(ops.where(BatchStep.position < target.position)):
            op.state, op.ready = "Complete", True
        op_row = execution.ctx.step(session, batch, current_op)
        op_row.state, op_row.ready, target.ready = "Running", True, True
    for start in range(done + 1, to, 500):
        with unit_of_work(services.session_factory) as session:
            for step in range(start, min(start + 500, to)):
                for action in ("batch.step.started", "batch.step.completed"):
                    services.audit.record(
                        session, actor="olga", action=action, entity=Entity("batch_step", f"{number}/{path_of(step)}"),
                        after={"state": "Complete"},
                    )  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    full = "--full" in args
    total = OPS * PHASES
    with tempfile.TemporaryDirectory() as tmp:
        services = services_for(f"sqlite:///{Path(tmp) / 'bench.sqlite'}", Path(tmp))
        try:
            execution, big = started_batch(services, long_recipe(OPS, PHASES, signed=False))
            early = run(services, execution, big, 1, 150)
            if full:
                run(services, execution, big, 151, total - 150)
            else:
                fast_forward(services, execution, big, 150, total - 149)
            # Side by side under the same machine load: step i of a fresh batch, then step 9,850+i of the big one.
            _, fresh = started_batch(services, long_recipe(2, PHASES, signed=False))
            late: dict[int, float] = {}
            beside: dict[int, float] = {}
            for i in range(1, 151):
                beside |= run(services, execution, fresh, i, i)
                late |= run(services, execution, big, total - 150 + i, total - 150 + i)
            with services.session_factory() as session:
                state = execution.batch(session, big).status
        finally:
            services.close()
    assert state == "complete", f"the batch should have completed, it is {state}"
    at_100 = median([early[s] for s in range(51, 151)]) * 1000
    beside_100 = median([beside[s] for s in range(51, 151)]) * 1000
    at_10000 = median(list(late.values())[50:]) * 1000
    mode = "all steps through the engine" if full else "steps 1-150 and 9,851-10,000 through the engine"
    print_table(
        f"Cost per step (start + complete), 10,000-step batch, SQLite, {mode}",
        [
            Row("step ~10,000 vs step ~100 of a fresh batch, interleaved", at_10000, beside_100, "ms", "ratio <= 1.2"),
            Row("step ~10,000 vs step ~100 of the same batch, earlier", at_10000, at_100, "ms", "(load drifts)"),
        ],
        baseline_name="around step 100",
    )


if __name__ == "__main__":
    main()
