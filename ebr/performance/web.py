"""Pages of production performance: the andon board of an area (full screen, live through
server-sent events), the OEE page with its charts and exports, and the list of stops where an
operator gives each stop its reason from the tablet (one tap per level of the reason tree).

Charts are separate ``image/svg+xml`` responses drawn by matplotlib (as in ``ebr.analytics``);
pages never inline SVG or style, so the site's CSP holds.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_from_directory,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from ebr.core.errors import NotFound, ValidationError
from ebr.performance import board as andon
from ebr.performance import charts, export, report, services
from ebr.performance.config import SEPARATOR
from ebr.performance.kpi import STOPS, shift_windows
from ebr.performance.models import UnitState
from ebr.performance.services import stop_number
from ebr.performance.setup import configuration, plant_zone_name
from ebr.web import access
from ebr.web.helpers import read, work
from ebr.web.helpers import services as app_services
from ebr.web.sse import sse_message
from equipment.models import Alarm

bp = Blueprint("performance", __name__, template_folder="templates")
STATIC = Path(__file__).parent / "static"

SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'"
STREAM_SECONDS = 60.0
POLL_SECONDS = 0.1  # a cheap change check per process and area; the board is rendered only when it changed
REFRESH_SECONDS = 1.0  # elapsed times tick once a second
DEFAULT_DAYS = 7


def _svg(text: str) -> Response:
    response = Response(text, mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = SVG_CSP
    response.headers["Cache-Control"] = "no-store"
    return response


def _zone() -> Any:
    return configuration(app_services()).zone(app_services().settings.plant_timezone)


def _day(name: str) -> dt.date | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ValidationError(f"{name} {raw!r} is not a date; use YYYY-MM-DD") from None


def _window() -> tuple[dt.datetime, dt.datetime]:
    """``since``/``until`` plant days from the query (until inclusive); default the last 7 days up to now."""
    zone, now = _zone(), app_services().clock.now()
    since, until = _day("since"), _day("until")
    end = now if until is None else dt.datetime.combine(until + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    start = (
        dt.datetime.combine(since, dt.time(0), tzinfo=zone)
        if since is not None
        else dt.datetime.combine(end.astimezone(zone).date() - dt.timedelta(days=DEFAULT_DAYS - 1), dt.time(0), zone)
    )
    if end <= start:
        raise ValidationError("'until' is before 'since': choose an end date on or after the start date")
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def _scope() -> report.Scope:
    def arg(name: str) -> str | None:
        return (request.args.get(name) or "").strip() or None

    return report.Scope(area=arg("area"), unit=arg("unit"), product=arg("product"), shift=arg("shift"))


def _report(*, per_unit: bool = False) -> report.Report:
    since, until = _window()
    svc = app_services()
    with read() as session:
        return report.build(
            session, configuration(svc), _scope(), since, until, plant_timezone=plant_zone_name(svc), per_unit=per_unit
        )


@bp.get("/performance/static/<path:filename>")
@access.public
def asset(filename: str) -> ResponseReturnValue:
    """The package's stylesheet (the board and the tablet's large targets)."""
    return send_from_directory(STATIC, filename, max_age=300)


# -- andon ------------------------------------------------------------------------------------


@bp.get("/andon/<area>")
@access.requires("performance.view")
def andon_board(area: str) -> ResponseReturnValue:
    """The full-screen board of ``area`` (a TV on the shop floor)."""
    _known(area)
    html = _board_html(area)
    return render_template("performance/andon.html", area=area, board_html=html)


def _known(area: str) -> None:
    """Only a plant area has a board (and a cached one: no entry per made-up name)."""
    with read() as session:
        if area not in services.areas(session):
            raise NotFound(f"no plant area {area!r}; `ebr plant` lists the areas")


def _board_html(area: str) -> str:
    svc = app_services()
    with read() as session:
        found = andon.board(session, configuration(svc), area, svc.clock.now())
    return render_template("performance/_board.html", board=found, minutes=andon.minutes)


def _signature(area: str) -> tuple[Any, ...]:
    """What changes when the board would: the newest state row and alarm of any unit."""
    with read() as session:
        state = session.scalar(select(func.max(UnitState.id)))
        alarm = session.execute(select(func.max(Alarm.id), func.count(Alarm.acknowledged_at))).first()
    return (area, state, tuple(alarm or ()))


class Boards:
    """The boards of this process, shared by every stream of an area: the change check runs at
    most every ``POLL_SECONDS`` and the board is rendered once per change (or clock tick),
    however many TVs watch it. Kept in ``app.extensions``; nothing is created at import."""

    KEY = "performance_boards"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.found: dict[str, tuple[float, tuple[Any, ...], float, str]] = {}

    @classmethod
    def of_app(cls) -> Boards:
        boards = current_app.extensions.get(cls.KEY)
        if not isinstance(boards, Boards):
            boards = current_app.extensions.setdefault(cls.KEY, Boards())
        return boards

    def html(self, area: str) -> str:
        """The area's current board (checked, and rendered when needed, under the lock)."""
        with self.lock:
            now = time.monotonic()
            checked, signature, rendered, html = self.found.get(area, (0.0, (), 0.0, ""))
            if now - checked >= POLL_SECONDS or not html:
                fresh = _signature(area)
                if fresh != signature or now - rendered >= REFRESH_SECONDS or not html:
                    html, rendered = _board_html(area), now
                self.found[area] = (now, fresh, rendered, html)
            return html


def board_stream(area: str, *, seconds: float = STREAM_SECONDS) -> Iterator[str]:
    """SSE: the board's HTML whenever a state or alarm changes, and its clocks once a second."""
    yield "retry: 1000\n\n"
    boards = Boards.of_app()
    deadline = time.monotonic() + seconds
    sent = ""
    beat = time.monotonic()
    while time.monotonic() < deadline:
        html = boards.html(area)
        if html != sent:
            sent = html
            yield sse_message("board", html)
        elif time.monotonic() - beat >= REFRESH_SECONDS:
            beat = time.monotonic()
            yield ": alive\n\n"
        time.sleep(POLL_SECONDS / 2)


@bp.get("/andon/<area>/stream")
@access.requires("performance.view")
def andon_stream(area: str) -> ResponseReturnValue:
    _known(area)
    response = Response(stream_with_context(board_stream(area)), mimetype="text/event-stream")
    response.headers["X-Accel-Buffering"] = "no"
    return response


# -- OEE --------------------------------------------------------------------------------------


@bp.get("/performance/oee")
@access.requires("performance.view")
def oee() -> ResponseReturnValue:
    """KPIs per unit for a scope and window, the charts, the Pareto, planned vs actual batch times."""
    found = _report(per_unit=True)
    with read() as session:
        all_areas = services.areas(session)
    query = {k: v for k, v in request.args.items() if v}
    return render_template(
        "performance/oee.html", r=found, areas=all_areas, query=query, pct=export.percent, hours=export.hours,
        shifts=[s.name for s in configuration(app_services()).shifts],
    )  # fmt: skip


@bp.get("/performance/oee/timeline.svg")
@access.requires("performance.view")
def timeline() -> ResponseReturnValue:
    found = _report()
    return _svg(charts.timeline_svg(found.intervals, found.units, _zone(), f"States, {found.scope.label()}"))


@bp.get("/performance/oee/trend.svg")
@access.requires("performance.view")
def trend() -> ResponseReturnValue:
    since, until = _window()
    svc = app_services()
    zone = _zone()
    days = []
    with read() as session:
        day = since.astimezone(zone).date()
        while True:
            start = max(dt.datetime.combine(day, dt.time(0), zone).astimezone(dt.UTC), since)
            end = min(dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), zone).astimezone(dt.UTC), until)
            if start >= until:
                break
            one = report.build(
                session, configuration(svc), _scope(), start, end, plant_timezone=plant_zone_name(svc)
            ).kpis
            days.append((day, one.oee, one.availability))
            day += dt.timedelta(days=1)
    return _svg(charts.oee_trend_svg(days, f"OEE by day, {_scope().label()}"))


@bp.get("/performance/oee/pareto.svg")
@access.requires("performance.view")
def pareto() -> ResponseReturnValue:
    found = _report()
    return _svg(charts.pareto_svg(found.pareto, f"Downtime by reason, {found.scope.label()}"))


@bp.get("/performance/oee.csv")
@access.requires("performance.view")
def oee_csv() -> ResponseReturnValue:
    response = Response(export.csv_text(_report(per_unit=True)), mimetype="text/csv")
    response.headers["Content-Disposition"] = "attachment; filename=oee.csv"
    return response


@bp.get("/performance/oee.xlsx")
@access.requires("performance.view")
def oee_xlsx() -> ResponseReturnValue:
    response = Response(export.xlsx_bytes(_report(per_unit=True)), mimetype=export.XLSX)
    response.headers["Content-Disposition"] = "attachment; filename=oee.xlsx"
    return response


# -- stops and their reasons (tablet) -----------------------------------------------------------


@bp.get("/performance/stops")
@access.requires("performance.view")
def stops() -> ResponseReturnValue:
    """The stops of the current shift (or the window asked for), those without a reason first."""
    svc = app_services()
    config = configuration(svc)
    now = svc.clock.now()
    if request.args.get("since"):
        since, until = _window()
    else:
        current = [w for w in shift_windows(config.shifts, now - dt.timedelta(days=1), now, _zone()) if w.end >= now]
        since, until = (current[-1].start, now) if current else (now - dt.timedelta(hours=8), now)
    area = (request.args.get("area") or "").strip() or None
    with read() as session:
        units = services.units_of(session, area)
        found = [i for i in services.history(session, units, since, until) if i.state in STOPS]
    long = [i for i in found if i.end - i.start >= config.stop_threshold]
    long.sort(key=lambda i: (i.reason is not None, i.start))
    return render_template(
        "performance/stops.html", stops=long, minor=len(found) - len(long), since=since, until=until, area=area,
        threshold=config.stop_threshold, hours=export.hours,
    )  # fmt: skip


def _stop(stop_id: int) -> UnitState:
    with read() as session:
        row = session.get(UnitState, stop_id)
    if row is None or row.state not in {s.value for s in STOPS}:
        raise NotFound(f"no stop {stop_id}; the list of stops shows the open ones")
    return row


@bp.get("/performance/stops/<stop_id>")
@access.requires("downtime.assign")
def choose(stop_id: str) -> ResponseReturnValue:
    """One level of the area's reason tree as large buttons; a leaf asks to confirm."""
    stop = _stop(stop_number(stop_id))
    path = (request.args.get("path") or "").strip()
    config = configuration(app_services())
    options = config.children(stop.area, path)
    with read() as session:
        current = services.current_reason(session, stop.id)
    parts = [p for p in path.split(SEPARATOR) if p]
    crumbs = [(p, SEPARATOR.join(parts[: i + 1])) for i, p in enumerate(parts)]
    return render_template(
        "performance/choose.html", stop=stop, path=path, options=options, crumbs=crumbs, current=current,
        separator=SEPARATOR,
    )  # fmt: skip


@bp.post("/performance/stops/<stop_id>/reason")
@access.requires("downtime.assign")
def assign(stop_id: str) -> ResponseReturnValue:
    svc = app_services()
    reason = request.form.get("reason", "")
    with work() as session:
        row = services.assign_reason(
            session, svc.audit, svc.clock, configuration(svc), actor=access.user_id(), stop_id=stop_number(stop_id),
            reason=reason, comment=request.form.get("comment", ""),
        )  # fmt: skip
        saved = row.reason
    flash(f"Reason recorded: {saved}")
    return redirect(url_for("performance.stops", area=request.form.get("area") or None))
