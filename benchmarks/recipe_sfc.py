"""The procedure chart: a 300-step recipe drawn as a sequential function chart (SVG), beside a 10-step one.

Measured, each the median of a few runs in one process: the SVG of a generated recipe
(steps in operations of 10, every operation with a parallel split and join, every
fifth with a conditional loop back, three unit procedures) by ``ebr.authoring.sfc.svg``
— building the graph and laying it out with Graphviz ``dot`` — for 300 steps, with the
batch's current steps highlighted, and the same for a 10-step recipe as the baseline.
Goal (issue 21): the 300-step picture < 1 s.
"""

from __future__ import annotations

import os
import statistics
import time
from decimal import Decimal
from typing import Any

from benchmarks.table import Row, print_table
from ebr.authoring import sfc
from recipes.authoring import parse_document
from recipes.model import Recipe

STEPS = int(os.environ.get("EBR_BENCH_SFC_STEPS", "300"))
RUNS = int(os.environ.get("EBR_BENCH_SFC_RUNS", "3"))


def _operation(o: int, size: int) -> dict[str, Any]:
    phases = [{"id": f"PH{p}", "name": f"Step {o}.{p}", "type": "instruction", "text": "Do it."}
              for p in range(1, size + 1)]  # fmt: skip
    if size >= 4:
        # PH1 splits into PH2 and PH3 in parallel, they join into PH4, then a sequence.
        transitions = [{"from": ["PH1"], "to": ["PH2", "PH3"]}, {"from": ["PH2", "PH3"], "to": ["PH4"]}]
        transitions += [{"from": [f"PH{p}"], "to": [f"PH{p + 1}"]} for p in range(4, size)]
        if o % 5 == 0 and size >= 6:
            phases[size - 2] = {"id": f"PH{size - 1}", "name": f"Step {o}.{size - 1}", "type": "data_entry",
                                "kind": "choice", "prompt": "Clear?", "choices": ["clear", "hazy"]}  # fmt: skip
            transitions[-1] = {**transitions[-1], "when": f"PH{size - 1} == 'clear'"}
            transitions.append({"from": [f"PH{size - 1}"], "to": ["PH4"], "when": f"PH{size - 1} == 'hazy'"})
        return {"id": f"OP{o}", "name": f"Operation {o}", "phases": phases, "transitions": transitions}
    return {"id": f"OP{o}", "name": f"Operation {o}", "phases": phases}


def generated(steps: int) -> Recipe:
    """A valid recipe of ``steps`` steps (a multiple of 10) in up to three unit procedures."""
    operations = [_operation(o, 10) for o in range(1, steps // 10 + 1)]
    per_up = max(1, -(-len(operations) // 3))
    ups = [
        {"id": f"UP{u + 1}", "name": f"Unit procedure {u + 1}", "equipment": {"unit_class": "reactor"},
         "operations": operations[u * per_up:(u + 1) * per_up]}
        for u in range(3) if operations[u * per_up:(u + 1) * per_up]
    ]  # fmt: skip
    return parse_document({
        "name": f"SFC-{steps}", "title": f"Generated recipe with {steps} steps",
        "product": {"code": "FG-SFC", "name": "Benchmark product"},
        "batch_size": {"nominal": Decimal(1000), "min": Decimal(500), "max": Decimal(1200), "unit": "L"},
        "unit_procedures": ups,
    })  # fmt: skip


def _median(recipe: Recipe, active: set[str]) -> float:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        sfc.svg(recipe, active=active)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    big, small = generated(STEPS), generated(10)
    big_active = {f"UP1.OP{o}.PH{p}" for o in (2, 3) for p in (2, 3)}
    measured = _median(big, big_active)
    baseline = _median(small, {"UP1.OP1.PH2"})
    print_table(
        f"Procedure chart (SVG by graphviz dot; median of {RUNS})",
        [Row(f"SFC of {STEPS} steps vs 10 steps", measured, baseline, "s", "< 1 s")],
        baseline_name="10 steps",
    )


if __name__ == "__main__":
    main()
