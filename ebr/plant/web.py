"""Equipment board: every unit with status, usability, live values, calibration and cleaning due, logbook."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from ebr.maintenance.services import calibration_signatures
from ebr.plant import web_alarms as alarms
from ebr.web import access
from ebr.web.helpers import field, read, services, work
from equipment.errors import EquipmentNotUsable
from equipment.models import Equipment, Heartbeat
from equipment.rules import EquipmentStatus

bp = Blueprint("equipment_ui", __name__, url_prefix="/equipment", template_folder="templates")

# A runtime whose heartbeat is older than this is shown as not running.
HEARTBEAT_STALE = dt.timedelta(seconds=10)


@dataclass(frozen=True)
class BoardRow:
    """One piece of equipment as the board shows it."""

    equipment: Equipment
    problem: str | None
    clean_until: dt.datetime | None


def _row(session: Session, eq: Equipment, now: dt.datetime) -> BoardRow:
    problem = None
    try:
        services().equipment.check_usable(session, eq.tag, now)
    except EquipmentNotUsable as exc:
        problem = exc.message
    clean_until = None
    if eq.last_cleaned_at is not None and eq.clean_hold_hours is not None:
        clean_until = eq.last_cleaned_at + dt.timedelta(hours=eq.clean_hold_hours)
    return BoardRow(eq, problem, clean_until)


def _runtimes(session: Session, now: dt.datetime) -> list[tuple[Heartbeat, bool]]:
    beats = session.scalars(select(Heartbeat).order_by(Heartbeat.area))
    return [(beat, now - beat.beat_at < HEARTBEAT_STALE and beat.connected) for beat in beats]


@bp.get("/")
@access.requires("equipment.view")
def board() -> ResponseReturnValue:
    """Every piece of equipment with its status and whether it may be used now."""
    now = services().clock.now()
    with read() as session:
        rows = [_row(session, eq, now) for eq in services().equipment.all(session)]
        runtimes = _runtimes(session, now)
        open_alarms = alarms.open_count(session)
    return render_template("equipment/board.html", rows=rows, runtimes=runtimes, now=now, open_alarms=open_alarms)


@bp.get("/<tag>")
@access.requires("equipment.view")
def unit(tag: str) -> ResponseReturnValue:
    """One unit: live values, usability, logbook, cleanings and calibrations."""
    now = services().clock.now()
    equipment = services().equipment
    with read() as session:
        eq = equipment.get(session, tag)
        row = _row(session, eq, now)
        logbook = list(reversed(equipment.logbook(session, tag)))
        cleanings = list(reversed(equipment.cleanings(session, tag)))
        calibrations = list(reversed(equipment.calibrations(session, tag)))
        signed = calibration_signatures(session, [c.id for c in calibrations])
        open_alarms, acknowledged = alarms.alarm_lines(session, tag)
    statuses = [s for s in EquipmentStatus if s not in (EquipmentStatus.CLEAN, EquipmentStatus.IN_USE)]
    return render_template(
        "equipment/unit.html",
        row=row,
        logbook=logbook,
        cleanings=cleanings,
        calibrations=calibrations,
        signed=signed,
        statuses=statuses,
        open_alarms=open_alarms,
        acknowledged=acknowledged,
        scope=eq.tag,
    )


@bp.post("/<tag>/status")
@access.requires("equipment.manage")
def set_status(tag: str) -> ResponseReturnValue:
    """Change the status (maintenance, out of service, dirty) with a reason; written to the logbook."""
    with work() as session:
        services().equipment.set_status(
            session,
            actor=access.user_id(),
            unit=tag,
            status=field("status", "Status"),
            reason=field("reason", "Reason"),
        )
    flash(f"Status of {tag} changed.")
    return redirect(url_for("equipment_ui.unit", tag=tag))


@bp.post("/<tag>/cleaning")
@access.requires("equipment.clean")
def record_cleaning(tag: str) -> ResponseReturnValue:
    """Record a cleaning (method or SOP and a comment); the unit is clean until its hold time ends."""
    with work() as session:
        services().equipment.record_cleaning(
            session,
            actor=access.user_id(),
            unit=tag,
            method=field("method", "Cleaning method or SOP"),
            comment=field("comment", "Comment", required=False),
        )
    flash(f"Cleaning of {tag} recorded.")
    return redirect(url_for("equipment_ui.unit", tag=tag))
