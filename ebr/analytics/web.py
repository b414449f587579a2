"""Pages under /analytics/: parameters across batches, control charts, trend notifications,
golden-batch overlays and the annual product review. Read-only for QA and auditors
(``analytics.view``); QA assesses notifications (``analytics.assess``, signed) and marks
reference batches (``analytics.manage``).

Charts are separate ``image/svg+xml`` responses drawn by matplotlib: pages never
inline SVG or style, so the site's CSP holds. An SVG image carries its own CSP
(styles only, nothing else) because matplotlib styles its elements.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ebr.analytics import charts, golden, review, stats, trends
from ebr.analytics import services as analytics
from ebr.core.errors import ValidationError
from ebr.web import access
from ebr.web.helpers import field, read, services, version_field, work

bp = Blueprint("analytics", __name__, url_prefix="/analytics", template_folder="templates")

SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'"
DEFAULT_LAST = 50


def _svg(text: str) -> Response:
    response = Response(text, mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = SVG_CSP
    response.headers["Cache-Control"] = "no-store"
    return response


def _day(name: str) -> dt.datetime | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise ValidationError(f"{name} {raw!r} is not a date; use YYYY-MM-DD") from None
    zone = zoneinfo.ZoneInfo(services().settings.plant_timezone)
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone)


def _window() -> dict[str, Any]:
    """The chart's batches from the query: ``since``/``until`` (plant dates) or the ``last`` N."""
    since, until = _day("since"), _day("until")
    raw = (request.args.get("last") or "").strip()
    if raw and not raw.isdigit():
        raise ValidationError(f"last {raw!r} is not a whole number of batches; use e.g. last=50")
    last = int(raw) if raw else (None if since or until else DEFAULT_LAST)
    if until is not None:
        until += dt.timedelta(days=1)
    return {"since": since, "until": until, "last": last or None}


@bp.get("/")
@access.requires("analytics.view")
def index() -> ResponseReturnValue:
    """Declared parameters by product, open trend notifications, the annual review form."""
    with read() as session:
        parameters = analytics.parameters_of(session)
        open_ones = trends.notifications(session, status="open")
    year = services().clock.now().year
    products = sorted({p.product_code for p in parameters})
    return render_template(
        "analytics/index.html", parameters=parameters, open_notifications=open_ones, products=products, year=year
    )


@bp.get("/parameters/<parameter_id>")
@access.requires("analytics.view")
def parameter(parameter_id: str) -> ResponseReturnValue:
    """The chart page: values, limits, rules broken, capability with intervals, notes."""
    window = _window()
    with read() as session:
        chart = analytics.control_chart(session, parameter_id, **window)
        sources = analytics.sources_of(session, parameter_id)
    mrs = stats.moving_ranges([p.value for p in chart.points])
    return render_template(
        "analytics/parameter.html", chart=chart, sources=sources, mrs=mrs, query=request.args.to_dict()
    )


@bp.get("/parameters/<parameter_id>/chart.svg")
@access.requires("analytics.view")
def parameter_chart(parameter_id: str) -> ResponseReturnValue:
    """The I-MR chart as SVG."""
    with read() as session:
        chart = analytics.control_chart(session, parameter_id, **_window())
    return _svg(charts.control_chart_svg(chart))


@bp.get("/notifications")
@access.requires("analytics.view")
def notifications() -> ResponseReturnValue:
    """Every trend notification, newest first (open ones first in the index page)."""
    status = request.args.get("status") or None
    with read() as session:
        found = trends.notifications(session, status=status)
    return render_template("analytics/notifications.html", notifications=found, status=status)


@bp.get("/notifications/<number>")
@access.requires("analytics.view")
def notification(number: str) -> ResponseReturnValue:
    """A trend notification with its chart (as it was when opened) and QA's assessment."""
    with read() as session:
        row = trends.get_notification(session, number)
    return render_template("analytics/notification.html", n=row, conclusions=trends.CONCLUSIONS)


@bp.get("/notifications/<number>/chart.svg")
@access.requires("analytics.view")
def notification_chart(number: str) -> ResponseReturnValue:
    with read() as session:
        return _svg(trends.get_notification(session, number).chart_svg)


@bp.post("/notifications/<number>/assessment")
@access.requires("analytics.assess")
def assess(number: str) -> ResponseReturnValue:
    """QA's assessment, signed 'reviewed' (password re-entered), audited."""
    svc = services()
    with work() as session:
        trends.assess(
            session,
            svc.audit,
            svc.signing,
            actor=access.user_id(),
            number=number,
            assessment=field("assessment", "Assessment"),
            conclusion=field("conclusion", "Conclusion"),
            user_id=field("sig_user", "User id").lower(),
            password=field("sig_password", "Password"),
            version=version_field(),
        )
    flash(f"Trend notification {number} assessed and signed.")
    return redirect(url_for("analytics.notification", number=number))


def _overlay_args() -> tuple[str, str]:
    path, tag = (request.args.get("path") or "").strip(), (request.args.get("tag") or "").strip()
    if not path or not tag:
        raise ValidationError("choose the phase (path=UP1.OP2.PH1) and the tag (tag=R-101.level) to compare")
    return path, tag


@bp.get("/golden/<batch>")
@access.requires("analytics.view")
def overlay(batch: str) -> ResponseReturnValue:
    """A batch's phase trend over the band of the product's reference batches, points outside listed."""
    with read() as session:
        if not request.args.get("path"):
            return render_template("analytics/golden.html", batch=batch, overlay=None, query={})
        path, tag = _overlay_args()
        found = golden.overlay(session, ref=batch, path=path, tag=tag)
    return render_template("analytics/golden.html", batch=batch, overlay=found, query=request.args.to_dict())


@bp.get("/golden/<batch>/chart.svg")
@access.requires("analytics.view")
def overlay_chart(batch: str) -> ResponseReturnValue:
    path, tag = _overlay_args()
    with read() as session:
        found = golden.overlay(session, ref=batch, path=path, tag=tag)
    title = f"{found.batch} {found.path} {found.tag} over {len(found.references)} reference batches"
    return _svg(charts.band_svg(found.band, found.series, found.outside, title=title, unit=""))


@bp.get("/references/<product>")
@access.requires("analytics.view")
def references(product: str) -> ResponseReturnValue:
    """The reference (golden) batches of a product."""
    with read() as session:
        found = golden.references(session, product)
    return render_template("analytics/references.html", product=product, references=found)


@bp.post("/references/<product>")
@access.requires("analytics.manage")
def mark(product: str) -> ResponseReturnValue:
    """Mark a released batch of ``product`` as a reference batch (with a reason, audited)."""
    svc = services()
    number = field("batch", "Batch")
    with work() as session:
        golden.mark_reference(
            session, svc.audit, svc.clock, actor=access.user_id(), ref=number, reason=field("reason", "Reason")
        )
    flash(f"Batch {number} is now a reference batch.")
    return redirect(url_for("analytics.references", product=product))


@bp.get("/apr/<product>/<year>.<fmt>")
@access.requires("analytics.view")
def annual_review(product: str, year: str, fmt: str) -> ResponseReturnValue:
    """The annual product review as PDF/A, or its data as CSV or XLSX; producing it is audited."""
    produced = review.produce(
        services(), product=product, year=review.parse_year(year), fmt=fmt, actor=access.user_id()
    )
    response = Response(produced.data, mimetype=produced.mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{produced.filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response
