"""Pages under /equipment/<tag>/: the logbook (printable, and as PDF), the calibration and
maintenance forms, and a calibration with its impact assessment.

Reading needs ``equipment.view``; recording ``equipment.calibrate`` / ``equipment.maintain``
(supervisor, QA). The equipment page links here (one link, "Logbook, calibration and
maintenance").
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ebr.core.errors import ValidationError
from ebr.maintenance import printing
from ebr.maintenance import services as maintenance
from ebr.web import access
from ebr.web.helpers import field, read, services, work

bp = Blueprint("maintenance", __name__, url_prefix="/equipment", template_folder="templates")


def _moment(name: str, label: str) -> dt.datetime | None:
    raw = field(name, label, required=False)
    if not raw:
        return None
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationError(f"{label} {raw!r} is not a date and time; use YYYY-MM-DDTHH:MM") from None
    if value.tzinfo is None:  # the form's datetime-local is plant time
        value = value.replace(tzinfo=zoneinfo.ZoneInfo(services().settings.plant_timezone))
    return value


def _day(name: str, label: str) -> dt.date | None:
    raw = field(name, label, required=False)
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ValidationError(f"{label} {raw!r} is not a date; use YYYY-MM-DD") from None


def _flag(name: str) -> bool:
    return request.form.get(name) in ("on", "true", "1", "yes")


@bp.get("/<tag>/logbook")
@access.requires("equipment.view")
def logbook(tag: str) -> ResponseReturnValue:
    """The logbook timeline with the unit's calibrations and maintenance; printable."""
    equipment = services().equipment
    with read() as session:
        eq = equipment.get(session, tag)
        lines = maintenance.timeline(session, equipment, tag)
        calibrations = list(reversed(equipment.calibrations(session, tag)))
        signed = maintenance.calibration_signatures(session, [k.id for k in calibrations])
        maintenances = list(reversed(equipment.maintenances(session, tag)))
    printable = request.args.get("print") == "1"
    return render_template(
        "maintenance/logbook.html", eq=eq, lines=lines, calibrations=calibrations, signed=signed,
        maintenances=maintenances,
        printable=printable, printed_at=services().clock.now(), printed_by=access.user_id(),
    )  # fmt: skip


@bp.get("/<tag>/logbook.css")
@access.requires("equipment.view")
def logbook_css(tag: str) -> ResponseReturnValue:
    """The logbook's print stylesheet (the PDF uses the same one)."""
    response = Response(printing.stylesheet(), mimetype="text/css")
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@bp.get("/<tag>/logbook.pdf")
@access.requires("equipment.view")
def logbook_pdf(tag: str) -> ResponseReturnValue:
    """The logbook as PDF (the same timeline, with who printed it and when on every page)."""
    svc = services()
    with read() as session:
        eq = svc.equipment.get(session, tag)
        lines = maintenance.timeline(session, svc.equipment, tag)
    data = printing.logbook_pdf(svc, tag=eq.tag, name=eq.name, lines=lines, printed_by=access.user_id())
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="logbook-{eq.tag}.pdf"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/<tag>/calibrations/new")
@access.requires("equipment.calibrate")
def calibration_form(tag: str) -> ResponseReturnValue:
    """The calibration form."""
    with read() as session:
        eq = services().equipment.get(session, tag)
    return render_template("maintenance/calibration_form.html", eq=eq, me=access.user_id())


@bp.post("/<tag>/calibrations")
@access.requires("equipment.calibrate")
def calibrate(tag: str) -> ResponseReturnValue:
    """Record the calibration, signed 'calibrated' by who records it; a failed one shows its impact assessment next."""
    result = field("result", "Result")
    if result not in ("passed", "failed"):
        raise ValidationError("Result must be passed or failed", ["Result: choose passed or failed"])
    data = {
        "passed": result == "passed",
        "calibrated_at": _moment("calibrated_at", "Calibrated at"),
        "next_due": _day("next_due", "Next due"),
        "certificate": field("certificate", "Certificate", required=False),
        "as_found": field("as_found", "As found", required=False),
        "as_left": field("as_left", "As left", required=False),
        "performed_by": field("performed_by", "Performed by", required=False) or None,
        "contractor": _flag("contractor"),
        "comment": field("comment", "Comment", required=False),
    }
    svc = services()
    with work() as session:
        row = maintenance.calibrate(
            session, svc, actor=access.user_id(), tag=tag, data=data,
            user_id=field("sig_user", "User id").lower(), password=field("sig_password", "Password"),
        )  # fmt: skip
        record_id = row.id
    if data["passed"]:
        flash(f"Calibration of {tag} recorded: passed.")
    else:
        flash(f"Calibration of {tag} recorded: FAILED. {tag} is in maintenance; assess the batches listed below.")
    return redirect(url_for("maintenance.calibration", tag=tag, record_id=record_id))


@bp.get("/<tag>/calibrations/<record_id>")
@access.requires("equipment.view")
def calibration(tag: str, record_id: str) -> ResponseReturnValue:
    """One calibration; a failed one with the batches that used the unit since its last pass."""
    equipment = services().equipment
    with read() as session:
        row = maintenance.calibration_of(session, equipment, tag, record_id)
        shown = maintenance.calibration_json(session, equipment, row)
    return render_template("maintenance/calibration.html", tag=tag, k=shown)


@bp.get("/<tag>/maintenance/new")
@access.requires("equipment.maintain")
def maintenance_form(tag: str) -> ResponseReturnValue:
    """The maintenance form."""
    with read() as session:
        eq = services().equipment.get(session, tag)
    return render_template("maintenance/maintenance_form.html", eq=eq)


@bp.post("/<tag>/maintenance")
@access.requires("equipment.maintain")
def maintain(tag: str) -> ResponseReturnValue:
    """Record maintenance work (and, when ticked, return the unit to service: dirty)."""
    with work() as session:
        services().equipment.record_maintenance(
            session,
            actor=access.user_id(),
            unit=tag,
            kind=field("kind", "Kind"),
            description=field("description", "Work done"),
            performed_by=field("performed_by", "Performed by", required=False) or None,
            contractor=_flag("contractor"),
            at=_moment("performed_at", "Performed at"),
            return_to_service=_flag("return_to_service"),
        )
    flash(f"Maintenance of {tag} recorded.")
    return redirect(url_for("maintenance.logbook", tag=tag))
