"""The annual product review (21 CFR 211.180(e), EU GMP chapter 1.10) of one product and year.

:func:`collect` reads one snapshot: batches made in the year (plant time), released,
rejected, deviations by kind and severity, recipe versions approved, yields (output
lot quantity against batch size) and the control chart of every declared critical
parameter over the batches released in the year. :func:`produce` renders it as
PDF/A-3b (WeasyPrint, ``apr.json`` attached), CSV (the batch table) or XLSX (one
sheet per section), outside any transaction, then audits who produced which review,
with the SHA-256 of the file, in its own short transaction.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import warnings
import zoneinfo
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import jinja2
from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.chain import Entity
from ebr.analytics import charts, stats
from ebr.analytics import services as analytics
from ebr.bootstrap import Services
from ebr.core.canonical import sha256_hex
from ebr.core.errors import NotFound, ValidationError
from ebr.execution.models import Batch, Deviation, RecordSignature
from ebr.materials.models import Lot
from recipes.models import RecipeVersion

FORMATS = {
    "pdf": "application/pdf",
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
ATTACHMENT = "apr.json"
BATCH_COLUMNS = ("batch", "status", "recipe", "created", "released", "size", "output", "yield_pct", "deviations")


def parse_year(raw: str | int) -> int:
    """A four-digit year; ValidationError otherwise."""
    text = str(raw).strip()
    if not (text.isdigit() and len(text) == 4):
        raise ValidationError(f"year {raw!r} is not a year; use four digits such as 2026")
    return int(text)


def _span(year: int, zone: str) -> tuple[dt.datetime, dt.datetime]:
    tz = zoneinfo.ZoneInfo(zone)
    return dt.datetime(year, 1, 1, tzinfo=tz), dt.datetime(year + 1, 1, 1, tzinfo=tz)


def _text(value: Decimal | None) -> str:
    return "" if value is None else format(value, "f")


def _yield(size: Decimal, size_unit: str, lot: Lot | None) -> str:
    if lot is None or lot.unit != size_unit or not size:
        return ""
    return format((lot.quantity / size * 100).quantize(Decimal("0.1")), "f")


def _batches(session: Session, product: str, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    released = (
        select(RecordSignature.batch_id, RecordSignature.signed_at)
        .where(RecordSignature.subject_type == "batch", RecordSignature.meaning == "released")
        .subquery()
    )
    query = (
        select(Batch, released.c.signed_at, Lot)
        .outerjoin(released, released.c.batch_id == Batch.id)
        .outerjoin(Lot, Lot.id == Batch.output_lot_id)
        .where(Batch.product_code == product, Batch.created_at >= start, Batch.created_at < end)
        .order_by(Batch.created_at, Batch.number)
    )
    deviations = Counter(
        session.scalars(
            select(Deviation.batch_id)
            .join(Batch, Batch.id == Deviation.batch_id)
            .where(Batch.product_code == product, Batch.created_at >= start, Batch.created_at < end)
        )
    )
    rows = []
    for batch, released_at, lot in session.execute(query):
        rows.append(
            {
                "batch": batch.number,
                "status": batch.status,
                "recipe": f"{batch.recipe_name} {batch.recipe_version}",
                "created": batch.created_at.isoformat(),
                "released": released_at.isoformat() if released_at else "",
                "size": f"{_text(batch.size)} {batch.size_unit}",
                "output": f"{_text(lot.quantity)} {lot.unit}" if lot is not None else "",
                "yield_pct": _yield(batch.size, batch.size_unit, lot),
                "deviations": deviations.get(batch.id, 0),
            }
        )
    return rows


def _deviations(session: Session, product: str, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    query = (
        select(Deviation.kind, Deviation.severity)
        .join(Batch, Batch.id == Deviation.batch_id)
        .where(Batch.product_code == product, Deviation.opened_at >= start, Deviation.opened_at < end)
    )
    counted = Counter((kind, severity) for kind, severity in session.execute(query).all())
    return [{"kind": k, "severity": s, "count": n} for (k, s), n in sorted(counted.items())]


def _recipe_changes(session: Session, product: str, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    query = (
        select(RecipeVersion)
        .where(
            RecipeVersion.product_code == product, RecipeVersion.approved_at >= start, RecipeVersion.approved_at < end
        )
        .order_by(RecipeVersion.approved_at)
    )
    return [
        {
            "recipe": f"{v.name} {v.version}",
            "title": v.title,
            "approved": v.approved_at.isoformat() if v.approved_at else "",
            "approved_by": v.approved_by or "",
            "effective_from": v.effective_from.isoformat() if v.effective_from else "",
            "status": v.status,
        }
        for v in session.scalars(query)
    ]


def _fmt(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}g}"


def _interval(value: stats.Interval | None) -> str:
    return "" if value is None else f"{value.low:.3g} – {value.high:.3g}"


def _chart_summary(chart: analytics.Chart) -> dict[str, Any]:
    cap, limits = chart.capability, chart.limits
    return {
        "parameter": chart.parameter.id,
        "title": chart.parameter.title,
        "unit": chart.parameter.unit or "",
        "batches": len(chart.points),
        "mean": _fmt(cap.mean if cap else None),
        "lcl": _fmt(limits.lcl if limits else None),
        "ucl": _fmt(limits.ucl if limits else None),
        "lsl": _text(chart.lsl),
        "usl": _text(chart.usl),
        "cp": _fmt(cap.cp if cap else None, 3),
        "cp_ci": _interval(cap.cp_ci) if cap else "",
        "cpk": _fmt(cap.cpk if cap else None, 3),
        "cpk_ci": _interval(cap.cpk_ci) if cap else "",
        "ppk": _fmt(cap.ppk if cap else None, 3),
        "rules_broken": [f"{b.batch}: {b.description}" for b in chart.breaks],
        "notes": chart.notes + (cap.notes if cap else []),
        "values": [{"batch": p.batch_number, "value": _text(p.value)} for p in chart.points],
    }


@dataclass(frozen=True)
class Review:
    """The review's data (``data``, what ``apr.json`` holds) and the charts (SVG) of its critical parameters."""

    data: dict[str, Any]
    charts: list[str]


def collect(session: Session, *, product: str, year: int, zone: str, produced_by: str, at: dt.datetime) -> Review:
    """Everything the annual review of ``product`` in ``year`` shows (one read snapshot)."""
    start, end = _span(year, zone)
    batches = _batches(session, product, start, end)
    parameters = [p for p in analytics.parameters_of(session, product) if p.critical]
    if not batches and not parameters:
        raise NotFound(f"no batch of product {product!r} was made in {year} and it has no declared parameter")
    made = [analytics.control_chart(session, p.id, since=start, until=end) for p in parameters]
    statuses = Counter(b["status"] for b in batches)
    data = {
        "format": "ebr-annual-product-review/1",
        "product": product,
        "year": year,
        "timezone": zone,
        "produced_by": produced_by,
        "produced_at": at.isoformat(),
        "summary": {
            "made": len(batches),
            "released": statuses.get("released", 0),
            "rejected": statuses.get("rejected", 0),
            "other": len(batches) - statuses.get("released", 0) - statuses.get("rejected", 0),
        },
        "batches": batches,
        "deviations": _deviations(session, product, start, end),
        "recipe_changes": _recipe_changes(session, product, start, end),
        "parameters": [_chart_summary(c) for c in made],
    }
    return Review(data, [charts.control_chart_svg(c) for c in made])


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("ebr.analytics", "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )


def render_pdf(review: Review) -> bytes:
    """The review as PDF/A-3b with ``apr.json`` attached."""
    from weasyprint import HTML, Attachment

    images = ["data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode() for svg in review.charts]
    html = _environment().get_template("analytics/apr.html").render(r=review.data, images=images)
    attachment = Attachment(
        file_obj=io.BytesIO(json_bytes(review)),
        name=ATTACHMENT,
        description="Data of the annual product review (ebr-annual-product-review/1)",
        relationship="Data",
    )
    with warnings.catch_warnings():
        # WeasyPrint 70 opens its sRGB profile for the PDF/A output intent and never closes it.
        warnings.simplefilter("ignore", ResourceWarning)
        data: bytes = HTML(string=html).write_pdf(pdf_variant="pdf/a-3b", attachments=[attachment])
    return data


def json_bytes(review: Review) -> bytes:
    return json.dumps(review.data, ensure_ascii=False, indent=1, sort_keys=True).encode()


def render_csv(review: Review) -> bytes:
    """The batch table with one column per critical parameter's value."""
    names = [p["parameter"] for p in review.data["parameters"]]
    values = {p["parameter"]: {v["batch"]: v["value"] for v in p["values"]} for p in review.data["parameters"]}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*BATCH_COLUMNS, *names])
    for row in review.data["batches"]:
        writer.writerow([row[c] for c in BATCH_COLUMNS] + [values[n].get(row["batch"], "") for n in names])
    return out.getvalue().encode()


def render_xlsx(review: Review) -> bytes:
    """One sheet per section: Batches, Deviations, Recipe changes, Parameters, Values."""
    from openpyxl import Workbook

    book = Workbook()
    sheets: list[tuple[str, list[str], list[dict[str, Any]]]] = [
        ("Batches", list(BATCH_COLUMNS), review.data["batches"]),
        ("Deviations", ["kind", "severity", "count"], review.data["deviations"]),
        ("Recipe changes", ["recipe", "title", "approved", "approved_by", "effective_from", "status"],
         review.data["recipe_changes"]),
        ("Parameters", ["parameter", "title", "unit", "batches", "mean", "lcl", "ucl", "lsl", "usl", "cp", "cp_ci",
                        "cpk", "cpk_ci", "ppk"], review.data["parameters"]),
    ]  # fmt: skip
    book.remove(book.active)
    for title, columns, rows in sheets:
        sheet = book.create_sheet(title)
        sheet.append(columns)
        for row in rows:
            # Recorded values stay text: a spreadsheet float would change the last digits.
            sheet.append([str(row[c]) if not isinstance(row[c], int) else row[c] for c in columns])
    values = book.create_sheet("Values")
    values.append(["parameter", "batch", "value"])
    for p in review.data["parameters"]:
        for v in p["values"]:
            values.append([p["parameter"], v["batch"], v["value"]])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@dataclass(frozen=True)
class Produced:
    data: bytes
    mimetype: str
    filename: str
    batches: int


def produce(services: Services, *, product: str, year: int, fmt: str, actor: str) -> Produced:
    """The review of ``product`` in ``year`` as ``fmt`` (pdf, csv or xlsx); producing it is audited."""
    if fmt not in FORMATS:
        raise ValidationError(f"format {fmt!r} is not offered; use one of: {', '.join(FORMATS)}")
    with services.session_factory() as session:
        review = collect(
            session, product=product, year=year, zone=services.settings.plant_timezone, produced_by=actor,
            at=services.clock.now(),
        )  # fmt: skip
        session.rollback()
    data = {"pdf": render_pdf, "csv": render_csv, "xlsx": render_xlsx}[fmt](review)
    with services.session_factory.begin() as session:
        services.audit.record(
            session,
            actor=actor,
            action="analytics.apr.produced",
            entity=Entity("product", product),
            after={"year": year, "format": fmt, "sha256": sha256_hex(data), "batches": len(review.data["batches"])},
        )
    return Produced(data, FORMATS[fmt], f"APR-{product}-{year}.{fmt}", len(review.data["batches"]))
