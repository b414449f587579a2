"""Compare two checkouts by CPU time: ``python -m benchmarks NAME`` run in each alternately.

    .venv/bin/python scripts/ab_cpu.py CHECKOUT_A CHECKOUT_B ROUNDS LOG NAME [NAME ...]

Each round runs every NAME in A then B (the next round B then A); ``import`` times
``import ebr.app, ebr.cli``. Wall time on a shared machine moves with its load; the CPU
time of the benchmark process and its children (``RUSAGE_CHILDREN``) is the fixed work
of the run, so it compares code. The log has every run's output and a summary table.
Each checkout needs its own ``.venv`` (``scripts/bootstrap.sh``).
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time


def run(checkout: str, name: str) -> tuple[float, float, int, str]:
    """(wall s, CPU s, exit code, the output's end) of one benchmark run in ``checkout``."""
    python = f"{checkout}/.venv/bin/python"
    command = [python, "-c", "import ebr.app, ebr.cli"] if name == "import" else [python, "-m", "benchmarks", name]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=checkout, capture_output=True, text=True, check=False)  # noqa: S603
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.returncode, done.stdout[-3000:]


def main() -> None:
    a, b, rounds, out, names = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5:]
    cpu: dict[tuple[str, str], list[float]] = {}
    with open(out, "w", encoding="utf-8") as log:
        for r in range(rounds):
            order = [("A", a), ("B", b)] if r % 2 == 0 else [("B", b), ("A", a)]
            for name in names:
                for side, checkout in order:
                    wall, seconds, code, text = run(checkout, name)
                    cpu.setdefault((name, side), []).append(seconds)
                    load = os.getloadavg()[0]
                    head = f"### {name} {side} round {r} wall {wall:.2f} cpu {seconds:.2f} rc {code} load {load:.1f}"
                    log.write(head + "\n")
                    log.write(text + "\n")
                    log.flush()
        log.write("\n| benchmark | A CPU s (min–max) | B CPU s (min–max) | B/A min · median |\n|---|---|---|---|\n")
        for name in names:
            ca, cb = cpu[(name, "A")], cpu[(name, "B")]
            log.write(
                f"| {name} | {min(ca):.2f}–{max(ca):.2f} | {min(cb):.2f}–{max(cb):.2f} | "
                f"{min(cb) / min(ca):.2f} · {statistics.median(cb) / statistics.median(ca):.2f} |\n"
            )


if __name__ == "__main__":
    main()
