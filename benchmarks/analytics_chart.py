"""Control chart over 1,000 released batches of one parameter on PostgreSQL, beside a plain SELECT.

One SIMPLE batch is made, executed, reviewed and released through the services (as
the tests do); it is then copied in SQL to N released batches (every step, entry and
signature, one hour apart, the temperature varying), so the chart reads the same
shape of data a plant would have.

* ``control_chart``: :func:`ebr.analytics.services.control_chart` (values across the
  released batches with their specification limits, I-MR limits, Nelson rules,
  capability with intervals and the normality test);
* ``+ SVG``: the same and the matplotlib chart the page shows;
* ``plain SELECT``: the same values by one hand-written query, nothing computed.

Run: ``.venv/bin/python -m benchmarks.analytics_chart [1000]`` (needs PostgreSQL,
``EBR_TEST_POSTGRES_URL`` or 127.0.0.1:5432).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Table, text

from benchmarks.table import Row, print_table
from ebr import schema
from ebr.bootstrap import Services, build_services
from ebr.core.config import load_settings
from ebr.core.db import make_engine
from ebr.execution.models import Batch, BatchStep, RecordSignature, StepEntry

PARAMETER = "SIMPLE.temperature"
PATH = "UP1.OP1.PH3"
# The temperature of copy g: 20.00–20.99 °C with a slow wave; other entries are copied as they are.
ENTRY_VALUE = (
    "CASE WHEN e.step_id = (SELECT id FROM batch_step WHERE path = :path AND batch_id = "
    "(SELECT id FROM batch WHERE number = :number)) AND e.name = 'value' "
    "THEN to_char(20 + ((g * 37) % 100) / 100.0 + 0.3 * sin(g / 25.0), 'FM990.00') ELSE e.value END"
)


def _copy(table: Table, replace: dict[str, str], source: str, where: str) -> str:
    columns = [c.name for c in table.columns]
    exprs = [replace.get(c, f"{source}.{c}") for c in columns]
    # Composed from the tables' own column names and this module's constants, never from input.
    insert = f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT {', '.join(exprs)} "
    return insert + f"FROM {table.name} {source} CROSS JOIN generate_series(1, :n) g WHERE {where}"


def _uuid(prefix: str, column: str = "") -> str:
    return f"md5('{prefix}' || g || {column or chr(39) * 2})::uuid::text"


def clone(services: Services, number: str, n: int) -> None:
    """Copy batch ``number`` (released) ``n`` times, one hour apart back in time, temperature varying."""
    hours = "g * interval '1 hour'"
    statements = [
        _copy(Batch.__table__, {  # type: ignore[arg-type]
            "id": _uuid("b"), "number": "'BX-' || lpad(g::text, 6, '0')", "production_order": "'PO-X' || g",
            "created_at": f"b.created_at - {hours}", "started_at": f"b.started_at - {hours}",
            "ended_at": f"b.ended_at - {hours}",
        }, "b", "b.number = :number"),
        _copy(BatchStep.__table__, {  # type: ignore[arg-type]
            "id": _uuid("s", "s.id"), "batch_id": _uuid("b"), "started_at": f"s.started_at - {hours}",
            "ended_at": f"s.ended_at - {hours}",
        }, "s", "s.batch_id = (SELECT id FROM batch WHERE number = :number)"),
        _copy(StepEntry.__table__, {  # type: ignore[arg-type]
            "id": _uuid("e", "e.id"), "batch_id": _uuid("b"), "step_id": _uuid("s", "e.step_id"),
            "recorded_at": f"e.recorded_at - {hours}",
            "value": ENTRY_VALUE,
        }, "e", "e.batch_id = (SELECT id FROM batch WHERE number = :number)"),
        _copy(RecordSignature.__table__, {  # type: ignore[arg-type]
            "id": _uuid("r", "r.id"), "batch_id": _uuid("b"), "signed_at": f"r.signed_at - {hours}",
            "subject_id": "CASE WHEN r.subject_type = 'batch' THEN 'BX-' || lpad(g::text, 6, '0') "
                          f"WHEN r.subject_type = 'batch_step' THEN {_uuid('s', 'r.subject_id')} ELSE r.subject_id END",
        }, "r", "r.batch_id = (SELECT id FROM batch WHERE number = :number)"),
    ]  # fmt: skip
    with services.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement), {"n": n, "number": number, "path": PATH})
        connection.execute(text("ANALYZE"))


@contextmanager
def released_batches(n: int) -> Iterator[Services]:
    """A fresh PostgreSQL database with ``n + 1`` released SIMPLE batches and the declared temperature."""
    from tests.integration.analytics.conftest import declare
    from tests.integration.analytics.support import Plant
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
            plant = Plant(services)
            declare(services)
            clone(services, plant.released_batch("20.0"), n)
            yield services
        finally:
            services.close()
            dbs.drop_all()


def _best(fn: Any, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def plain_select(services: Services, n: int) -> list[str]:
    query = text(
        "SELECT e.value FROM batch b JOIN batch_step s ON s.batch_id = b.id JOIN step_entry e ON e.step_id = s.id "
        "JOIN record_signature r ON r.batch_id = b.id AND r.subject_type = 'batch' AND r.meaning = 'released' "
        "WHERE b.status = 'released' AND b.product_code = 'FG-SIMPLE' AND s.path = :path AND e.name = 'value' "
        "AND e.superseded_at IS NULL ORDER BY r.signed_at DESC LIMIT :n"
    )
    with services.session_factory() as session:
        return [row[0] for row in session.execute(query, {"path": PATH, "n": n})]


def main() -> None:
    from ebr.analytics import charts
    from ebr.analytics import services as analytics

    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 1000
    with released_batches(n - 1) as services:

        def chart() -> analytics.Chart:
            with services.session_factory() as session:
                found = analytics.control_chart(session, PARAMETER, last=n)
            if len(found.points) != n or found.limits is None:
                raise RuntimeError(f"the chart has {len(found.points)} points, expected {n}")
            return found

        select_s = _best(lambda: plain_select(services, n))
        chart_s = _best(chart)
        svg_s = _best(lambda: charts.control_chart_svg(chart()), repeat=3)
    print_table(
        f"Control chart of one parameter over {n:,} released batches (PostgreSQL) vs a plain SELECT",
        [
            Row(f"control_chart, {n:,} batches", chart_s, select_s, "s", "< 1 s"),
            Row(f"control_chart + SVG, {n:,} batches", svg_s, select_s, "s", "< 1 s"),
        ],
        baseline_name="plain SELECT",
    )


if __name__ == "__main__":
    main()
