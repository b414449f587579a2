"""Cost per step does not grow with the batch: step 10,000 of a 10,000-step batch vs step 100.

A control recipe of 100 operations × 100 phases (one unit procedure). The engine
runs steps 1–150 (start and complete, each its own transaction with its audit
events); then the batch is brought forward to step 9,851 the way the engine would
have left it (steps and operations complete, one audit event per transition
appended through the real audit trail, so the trail is as long as in a real run),
and the engine runs steps 9,851–10,000. Figure: median time per step of steps
9,901–10,000 against steps 51–150. Goal: ratio ≤ 1.2.

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
from ebr.db import unit_of_work
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
            execution, number = started_batch(services, long_recipe(OPS, PHASES, signed=False))
            if full:
                times = run(services, execution, number, 1, total)
            else:
                times = run(services, execution, number, 1, 150)
                fast_forward(services, execution, number, 150, total - 149)
                times |= run(services, execution, number, total - 149, total)
            with services.session_factory() as session:
                state = execution.batch(session, number).status
        finally:
            services.close()
    assert state == "complete", f"the batch should have completed, it is {state}"
    early = median([times[s] for s in range(51, 151)]) * 1000
    late = median([times[s] for s in range(total - 99, total + 1)]) * 1000
    mode = "all steps through the engine" if full else "steps 1-150 and 9,851-10,000 through the engine"
    print_table(
        f"Cost per step (start + complete), 10,000-step batch, SQLite, {mode}",
        [Row("median per step around step 10,000", late, early, "ms", "ratio <= 1.2")],
        baseline_name="around step 100",
    )


if __name__ == "__main__":
    main()
