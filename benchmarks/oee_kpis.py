"""KPIs of one area over a year of state history on PostgreSQL: 10 units, 50,000 state changes.

A fresh database holds area Formulation with 10 units and a year of state changes written
in bulk (running, idle, held, down, planned in a fixed pseudo-random sequence; every other
long stop with a reason); the performance file has three shifts on weekdays (Europe/Berlin,
so two daylight-saving changes). Measured: :func:`ebr.performance.report.build` of the area
over the year with per-unit KPIs (reads, shift calendar, intervals, exact arithmetic), best
of 3; baseline: the same for 5,000 changes in the same run.

Run: ``.venv/bin/python -m benchmarks oee_kpis [50000]`` (needs PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.table import Row, print_table
from ebr import schema
from ebr.bootstrap import Services, build_services
from ebr.core.config import load_settings
from ebr.core.db import make_engine, unit_of_work
from ebr.performance import report
from ebr.performance.config import PerformanceConfig, parse
from ebr.performance.models import StopReason, UnitState

AREA = "Formulation"
UNITS = [f"R-{100 + i}" for i in range(10)]
YEAR = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
CONFIG = b"""\
timezone: Europe/Berlin
shifts:
  - {name: early, start: "06:00", end: "14:00", days: [mon, tue, wed, thu, fri]}
  - {name: late, start: "14:00", end: "22:00", days: [mon, tue, wed, thu, fri]}
  - {name: night, start: "22:00", end: "06:00", days: [sun, mon, tue, wed, thu]}
"""
CYCLE = ("running", "idle", "running", "held", "running", "down", "running", "planned")


@contextmanager
def area_with_history(changes: int) -> Iterator[Services]:
    """A fresh PostgreSQL database with ``changes`` state rows over 2026 for 10 units."""
    from tests.support.databases import PostgresDatabases, postgres_server_url

    dbs = PostgresDatabases(postgres_server_url())
    url = dbs.url_for(dbs.create("ebr_bench"))
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(url)
        schema.upgrade(engine)
        engine.dispose()
        settings = load_settings({"EBR_DATA_DIR": str(Path(tmp) / "data")}, database_url=url, secret_key="bench")
        services = build_services(settings)
        try:
            with unit_of_work(services.session_factory) as session:
                services.equipment.ensure_area(session, actor="admin", name=AREA)
                for unit in UNITS:
                    services.equipment.register(
                        session, actor="admin", tag=unit, kind="unit", name=unit, area=AREA, reason="bench"
                    )
            _write_history(services, changes)
            yield services
        finally:
            services.close()
            dbs.drop_all()


def _write_history(services: Services, changes: int) -> None:
    chooser = random.Random(22400)
    per_unit = changes // len(UNITS)
    step = dt.timedelta(days=365) / per_unit
    rows = []
    for u, unit in enumerate(UNITS):
        for k in range(per_unit):
            state = CYCLE[(k + u) % len(CYCLE)]
            rows.append({
                "unit": unit, "area": AREA, "state": state, "cause": f"{state} {k % 7}", "batch_number": None,
                "step_path": None, "since": YEAR + step * k + dt.timedelta(seconds=chooser.randint(0, 600)),
                "source": "derived", "actor": "runtime", "audit_seq": None,
            })  # fmt: skip
    with services.engine.begin() as connection:
        for start in range(0, len(rows), 5000):
            connection.execute(UnitState.__table__.insert(), rows[start : start + 5000])
        ids = [r[0] for r in connection.execute(UnitState.__table__.select().with_only_columns(UnitState.id))]
        stops = [{"state_id": i, "reason": "Mechanical / Pump seal", "comment": "", "assigned_at": YEAR,
                  "assigned_by": "olga"} for i in ids[::7]]  # fmt: skip
        connection.execute(StopReason.__table__.insert(), stops)


def _best(services: Services, config: PerformanceConfig, repeat: int = 3) -> tuple[float, report.Report]:
    best, found = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        with services.session_factory() as session:
            found = report.build(
                session, config, report.Scope(area=AREA), YEAR, YEAR + dt.timedelta(days=365),
                plant_timezone="UTC", per_unit=True,
            )  # fmt: skip
        best = min(best, time.perf_counter() - started)
    assert found is not None
    return best, found


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 50_000
    config = parse(CONFIG, "bench.yaml")
    measured: dict[int, float] = {}
    for changes in (n // 10, n):
        with area_with_history(changes) as services:
            seconds, found = _best(services, config)
            if len(found.intervals) < changes * 0.99:
                raise RuntimeError(f"the report read {len(found.intervals)} intervals of {changes}")
            measured[changes] = seconds
    rows = [Row(f"area KPIs, 10 units, {n:,} changes / year", measured[n], measured[n // 10], "s", "< 1 s")]
    print_table("OEE KPIs of one area over a year (PostgreSQL)", rows, baseline_name=f"{n // 10:,} changes")


if __name__ == "__main__":
    main()
