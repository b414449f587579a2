"""The annual product review of 500 batches as PDF/A on PostgreSQL, beside collecting its data.

The batches are made as in :mod:`benchmarks.analytics_chart` (one SIMPLE batch through
the services, copied in SQL, one hour apart within the year); the temperature is a
declared critical parameter, so the review holds its control chart.

* ``PDF/A``: :func:`ebr.analytics.review.produce` (collect, render with WeasyPrint as
  PDF/A-3b with apr.json attached, audit);
* ``CSV`` / ``XLSX``: the same for the exports;
* ``collect only``: the data of the review (queries, chart statistics, SVG), no rendering.

Run: ``.venv/bin/python -m benchmarks.analytics_apr [500]`` (needs PostgreSQL).
"""

from __future__ import annotations

import sys
import time

from benchmarks.analytics_chart import released_batches
from benchmarks.table import Row, print_table


def main() -> None:
    from ebr.analytics import review

    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 500
    rows = []
    with released_batches(n - 1) as services:
        year = services.clock.now().year
        started = time.perf_counter()
        with services.session_factory() as session:
            data = review.collect(
                session, product="FG-SIMPLE", year=year, zone="UTC", produced_by="quinn", at=services.clock.now()
            )
        collect_s = time.perf_counter() - started
        made = data.data["summary"]["made"]
        for fmt, goal in (("pdf", "< 30 s"), ("csv", ""), ("xlsx", "")):
            started = time.perf_counter()
            produced = review.produce(services, product="FG-SIMPLE", year=year, fmt=fmt, actor="quinn")
            seconds = time.perf_counter() - started
            if produced.batches != made:
                raise RuntimeError(f"the review holds {produced.batches} batches, expected {made}")
            size = f"{len(produced.data) / 1024:.0f} KiB"
            rows.append(Row(f"{fmt.upper()} of {made:,} batches ({size})", seconds, collect_s, "s", goal))
    print_table(f"Annual product review of {n:,} batches (PostgreSQL)", rows, baseline_name="collect only")


if __name__ == "__main__":
    main()
