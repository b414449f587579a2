"""Printing benchmark results: the measured figure beside its baseline, with the ratio."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    name: str
    measured: float
    baseline: float
    unit: str
    goal: str = ""

    @property
    def ratio(self) -> float:
        return self.measured / self.baseline if self.baseline else float("inf")


def print_table(title: str, rows: Sequence[Row], *, baseline_name: str = "baseline") -> None:
    """Print ``rows`` as a fixed-width table with the ratio measured / baseline."""
    print(f"\n## {title}\n")
    header = f"| {'case':<44} | {'measured':>14} | {baseline_name:>14} | {'ratio':>7} | {'goal':<12} |"
    print(header)
    print("|" + "-" * 46 + "|" + "-" * 16 + "|" + "-" * 16 + "|" + "-" * 9 + "|" + "-" * 14 + "|")
    for row in rows:
        ratio = f"{row.ratio:>7.2f}" if row.baseline else f"{'—':>7}"  # no ratio to a zero baseline
        print(
            f"| {row.name:<44} | {row.measured:>10.3f} {row.unit:<3} | {row.baseline:>10.3f} {row.unit:<3} "
            f"| {ratio} | {row.goal:<12} |"
        )


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile (0–100) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
