"""The KPI report as rows (one per unit and one for the scope), CSV and XLSX, and the JSON form the
API gives. Ratios are decimal text rounded half-even to 4 places (exact fractions underneath);
times are seconds as decimal text."""

from __future__ import annotations

import csv
import io
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Any

from ebr.core.clock import to_rfc3339
from ebr.performance.kpi import Kpis, StateKind
from ebr.performance.report import Report

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
COLUMNS = (
    "scope", "availability", "effectiveness", "quality", "oee", "mtbf_s", "mttr_s", "planned_busy_s", "running_s",
    "idle_s", "held_s", "down_s", "planned_downtime_s", "out_of_shift_s", "failures", "minor_stops", "ideal_s",
    "produced", "good",
)  # fmt: skip


def decimal(value: Fraction | None, places: int = 4) -> str | None:
    """``value`` as decimal text (half-even to ``places``), None stays None."""
    if value is None:
        return None
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return str(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN))


def percent(value: Fraction | None) -> str:
    """``value`` as a percentage for people (— when undefined)."""
    text = decimal(None if value is None else value * 100, 1)
    return "—" if text is None else f"{text} %"


def hours(value: Fraction | None) -> str:
    if value is None:
        return "—"
    return f"{decimal(value / 3600, 2)} h"


def kpi_row(scope: str, k: Kpis) -> dict[str, Any]:
    t = k.times
    by = t.by_state
    return {
        "scope": scope,
        "availability": decimal(k.availability),
        "effectiveness": decimal(k.effectiveness),
        "quality": decimal(k.quality),
        "oee": decimal(k.oee),
        "mtbf_s": decimal(k.mtbf, 1),
        "mttr_s": decimal(k.mttr, 1),
        "planned_busy_s": decimal(t.planned_busy, 1),
        "running_s": decimal(t.running, 1),
        "idle_s": decimal(by[StateKind.IDLE], 1),
        "held_s": decimal(by[StateKind.HELD], 1),
        "down_s": decimal(by[StateKind.DOWN], 1),
        "planned_downtime_s": decimal(by[StateKind.PLANNED], 1),
        "out_of_shift_s": decimal(by[StateKind.OUT_OF_SHIFT], 1),
        "failures": t.failures,
        "minor_stops": t.minor_stops,
        "ideal_s": decimal(k.ideal_seconds, 1),
        "produced": decimal(k.produced, 3),
        "good": decimal(k.good, 3),
    }


def rows(r: Report) -> list[dict[str, Any]]:
    return [kpi_row(r.scope.label(), r.kpis)] + [kpi_row(f"unit {u}", k) for u, k in r.by_unit.items()]


def as_json(r: Report) -> dict[str, Any]:
    """The report as the API gives it."""
    return {
        "scope": {"area": r.scope.area, "unit": r.scope.unit, "product": r.scope.product, "shift": r.scope.shift},
        "since": to_rfc3339(r.since),
        "until": to_rfc3339(r.until),
        "units": r.units,
        "kpis": kpi_row(r.scope.label(), r.kpis),
        "by_unit": {u: kpi_row(f"unit {u}", k) for u, k in r.by_unit.items()},
        "pending_lots": r.pending_lots,
        "pareto": [{"reason": n, "seconds": decimal(s, 1), "stops": c} for n, s, c in r.pareto],
        "batches": [
            {
                "batch": b.number,
                "product": b.product,
                "planned_s": decimal(b.planned_seconds, 1),
                "actual_s": decimal(b.actual_seconds, 1),
            }
            for b in r.batches
        ],
    }


def csv_text(r: Report) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows(r):
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue()


def xlsx_bytes(r: Report) -> bytes:
    """A workbook: KPIs, the Pareto, planned vs actual batch times (numbers as numbers)."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "KPIs"
    sheet.append(list(COLUMNS))
    for row in rows(r):
        sheet.append([_cell(row[c]) for c in COLUMNS])
    pareto = book.create_sheet("Downtime Pareto")
    pareto.append(["reason", "seconds", "stops"])
    for name, spent, count in r.pareto:
        pareto.append([name, _cell(decimal(spent, 1)), count])
    batches = book.create_sheet("Batch durations")
    batches.append(["batch", "product", "planned_s", "actual_s"])
    for b in r.batches:
        batches.append([b.number, b.product, _cell(decimal(b.planned_seconds, 1)), _cell(decimal(b.actual_seconds, 1))])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return Decimal(value)
        except ArithmeticError:
            return value
    return value
