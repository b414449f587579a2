"""The UI shell: templates, static files, plant-time filters, navigation, home page.

Times are stored in UTC and shown in the plant's time zone with the zone's name
(``EBR_PLANT_TIMEZONE``), so an operator reads the clock on the wall and an auditor
in another country still knows which time is meant.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, current_app, redirect, request, url_for
from flask.typing import ResponseReturnValue

from ebr.web import access
from ebr.web.registry import services_of

bp = Blueprint("ui", __name__, template_folder="templates", static_folder="static", static_url_path="/assets")


@dataclass(frozen=True)
class NavItem:
    label: str
    endpoint: str
    action: str


# Order = the order on the bar; each item shows only to roles that may open it.
NAV: tuple[NavItem, ...] = (
    NavItem("Worklist", "worklist.index", "batch.execute"),
    NavItem("Verification queue", "review.supervisor_queue", "deviation.handle"),
    NavItem("QA review", "review.qa_queue", "batch.review"),
    NavItem("QC samples", "samples.index", "sample.result.enter"),
    NavItem("Batches", "worklist.batches", "batch.view"),
    NavItem("Lots", "materials.lots", "lot.view"),
    NavItem("Recipes", "recipes_ui.index", "recipe.view"),
    NavItem("Equipment", "equipment_ui.board", "equipment.view"),
    NavItem("Audit trail", "audit_ui.search", "audit.view"),
    NavItem("Records", "records.index", "audit.export"),
    NavItem("Analytics", "analytics.index", "analytics.view"),
    NavItem("Performance", "performance.oee", "performance.view"),
    NavItem("Training", "training.index", "training.view"),
    NavItem("Users", "admin.users", "user.manage"),
    NavItem("Integration", "integration.health_page", "integration.manage"),
)


def plant_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(services_of(current_app).settings.plant_timezone)


def plant_time(moment: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S %Z") -> str:
    """``moment`` in the plant's zone, with the zone's abbreviation; '—' for none."""
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        raise ValueError("naive datetime reached the UI: timestamps must carry their zone")
    return moment.astimezone(plant_zone()).strftime(fmt)


def plant_date(moment: dt.datetime | dt.date | None) -> str:
    if moment is None:
        return "—"
    if isinstance(moment, dt.datetime):
        return plant_time(moment, "%Y-%m-%d")
    return moment.isoformat()


# Words for the codes people would otherwise read (statuses, phase types, checks).
LABELS = {
    "in_execution": "in execution",
    "ready": "ready on the floor",
    "equipment_check": "equipment check",
    "weigh_dispense": "weigh and dispense",
    "data_entry": "data entry",
    "timed_hold": "timed hold",
    "sign_off": "sign-off",
    "pass_fail": "pass or fail",
    "out_of_spec": "out of specification",
    "out_of_limit": "out of limits",
    "interlock_trip": "interlock trip",
    "time_exceeded": "time exceeded",
}


def human(code: object) -> str:
    """A code as words: ``in_execution`` → "in execution", ``Held`` → "held"."""
    text = str(code)
    return LABELS.get(text, text.replace("_", " ").lower() if text[:1].isupper() else text.replace("_", " "))


def pager(args: Any, page: int) -> str:
    """The current query string with ``page`` replaced (for Newer/Older links)."""
    pairs = [(k, v) for k, v in args.items(multi=True) if k != "page"]
    return urlencode([*pairs, ("page", str(page))])


def _endpoint_exists(endpoint: str) -> bool:
    return endpoint in current_app.view_functions


def _url_or_none(endpoint: str) -> str | None:
    return url_for(endpoint) if _endpoint_exists(endpoint) else None


def nav_items() -> list[dict[str, Any]]:
    """The menu for the signed-in user: pages that exist and that their roles may open."""
    items = []
    for item in NAV:
        if _endpoint_exists(item.endpoint) and access.can(item.action):
            url = url_for(item.endpoint)
            items.append({"label": item.label, "url": url, "current": request.path.startswith(url)})
    return items


def _context() -> dict[str, Any]:
    services = services_of(current_app)
    user = access.current_user()
    return {
        "ui_user": user,
        "nav_items": nav_items() if user else [],
        "can": access.can,
        "plant_tz": services.settings.plant_timezone,
        "now_plant": plant_time(services.clock.now(), "%H:%M:%S %Z"),
        "idle_seconds": services.settings.session_idle_minutes * 60,
        "login_url": _url_or_none("auth.login") or "/",
        "logout_url": _url_or_none("auth.logout"),
        "keepalive_url": _url_or_none("live.keepalive") or "/",
    }


@bp.get("/")
@access.public
def home() -> ResponseReturnValue:
    """Send each user to the first page of their work; strangers to the login page."""
    if access.current_user() is None:
        return redirect(_url_or_none("auth.login") or url_for("health.healthz"))
    for item in NAV:
        if _endpoint_exists(item.endpoint) and access.can(item.action):
            return redirect(url_for(item.endpoint))
    return redirect(url_for("health.healthz"))


def register(app: Flask) -> None:
    """Attach the shell: blueprint, filters and the template context."""
    app.register_blueprint(bp)
    app.add_template_filter(plant_time, "plant_time")
    app.add_template_filter(plant_date, "plant_date")
    app.add_template_filter(pager, "pager")
    app.add_template_filter(human, "human")
    app.context_processor(_context)
