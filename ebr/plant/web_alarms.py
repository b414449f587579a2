"""Alarms (interlock trips): the open ones to acknowledge with a comment, and who acknowledged the rest.

The runtime writes ``equipment_alarm`` rows; ``EquipmentService.acknowledge_alarm``
marks one acknowledged and writes the audit event (the comment is its reason) in one
unit of work. The live banners (``live/alarms.html``) link here; the unit page shows
the same section for its own alarms. htmx gets the section back (``#alarms``) with the
notice, or with the refusal and the comment that was typed; nothing is stored then.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audit.models import AuditEvent
from ebr.core.errors import EbrError, NotFound, ValidationError
from ebr.web import access
from ebr.web.errors import status_for
from ebr.web.helpers import read, services, work
from equipment.models import Alarm

bp = Blueprint("alarms", __name__, url_prefix="/equipment/alarms", template_folder="templates")

ACKNOWLEDGED = "equipment.alarm.acknowledged"
# Acknowledged alarms shown below the open ones, newest first (the audit trail has them all).
RECENT = 50


@dataclass(frozen=True)
class AlarmLine:
    """An alarm with the comment its acknowledgement was given (the audit event's reason)."""

    alarm: Alarm
    comment: str | None = None


@dataclass(frozen=True)
class Refused:
    """A refused acknowledgement: its form shows the error and keeps the comment."""

    alarm_id: int
    comment: str
    error: EbrError


def open_count(session: Session) -> int:
    """How many alarms are waiting for acknowledgement (for the equipment board)."""
    return session.scalar(select(func.count()).select_from(Alarm).where(Alarm.acknowledged_at.is_(None))) or 0


def alarm_lines(session: Session, unit: str | None = None) -> tuple[list[AlarmLine], list[AlarmLine]]:
    """Open alarms (newest first) and the most recently acknowledged ones, of one unit or all."""
    query = select(Alarm)
    if unit is not None:
        query = query.where(Alarm.unit == unit)
    opened = list(session.scalars(query.where(Alarm.acknowledged_at.is_(None)).order_by(Alarm.at.desc())))
    done = list(
        session.scalars(
            query.where(Alarm.acknowledged_at.is_not(None)).order_by(Alarm.acknowledged_at.desc()).limit(RECENT)
        )
    )
    comments = _comments(session, [a.id for a in done])
    return [AlarmLine(a) for a in opened], [AlarmLine(a, comments.get(str(a.id))) for a in done]


def _comments(session: Session, ids: list[int]) -> dict[str, str | None]:
    if not ids:
        return {}
    query = select(AuditEvent.entity_id, AuditEvent.reason).where(
        AuditEvent.entity_type == "alarm",
        AuditEvent.action == ACKNOWLEDGED,
        AuditEvent.entity_id.in_([str(i) for i in ids]),
    )
    return {row.entity_id: row.reason for row in session.execute(query)}


def _section(unit: str | None, *, notice: str = "", refused: Refused | None = None) -> str:
    with read() as session:
        opened, done = alarm_lines(session, unit)
    return render_template(
        "equipment/_alarms.html", open_alarms=opened, acknowledged=done, scope=unit, notice=notice, refused=refused
    )


@bp.get("")
@access.requires("equipment.view")
def index() -> ResponseReturnValue:
    """Every open alarm with its acknowledgement form, and the recently acknowledged ones."""
    with read() as session:
        opened, done = alarm_lines(session)
    return render_template("equipment/alarms.html", open_alarms=opened, acknowledged=done, scope=None)


def _alarm_id(raw: str) -> int:
    if not raw.isdigit():
        raise NotFound(f"no alarm {raw!r}; the alarms page lists them")
    return int(raw)


@bp.post("/<alarm_id>/acknowledge")
@access.requires("alarm.acknowledge")
def acknowledge(alarm_id: str) -> ResponseReturnValue:
    """Acknowledge an open alarm with a comment (what was found, what was done); audited."""
    number = _alarm_id(alarm_id)
    scope = (request.form.get("scope") or "").strip() or None
    comment = (request.form.get("comment") or "").strip()
    try:
        if not comment:
            raise ValidationError(f"a comment is required to acknowledge alarm {number}: say what was found and done")
        with work() as session:
            alarm = services().equipment.acknowledge_alarm(
                session, actor=access.user_id(), alarm_id=number, comment=comment
            )
            notice = f"Alarm {number} ({alarm.condition.replace('_', ' ')} on {alarm.unit}) acknowledged."
    except EbrError as error:
        if not request.headers.get("HX-Request"):
            raise
        return _section(scope, refused=Refused(number, comment, error)), status_for(error)
    if not request.headers.get("HX-Request"):
        flash(notice)
        back = url_for("equipment_ui.unit", tag=scope) if scope else url_for("alarms.index")
        return redirect(back)
    return _section(scope, notice=notice)
