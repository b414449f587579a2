"""QC's Samples page: samples whose batch step waits for a result, and the form to enter one per test.

Same rules and permission (``sample.result.enter``) as ``POST /api/samples/<id>/results``.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from ebr.execution import samples
from ebr.web import access
from ebr.web.helpers import execution, field, read, work

bp = Blueprint("samples", __name__, url_prefix="/samples", template_folder="templates")


@bp.get("/")
@access.requires("sample.result.enter")
def index() -> ResponseReturnValue:
    """Samples waiting for QC, oldest first, each test with its specification."""
    with read() as session:
        waiting = samples.pending(session, execution().ctx)
    return render_template("samples/index.html", waiting=waiting)


@bp.post("/<ref>/results")
@access.requires("sample.result.enter")
def enter(ref: str) -> ResponseReturnValue:
    """Enter one test's result; the message says whether it is within its specification."""
    with work() as session:
        row = execution().enter_sample_result(
            session,
            actor=access.user_id(),
            ref=ref,
            test=field("test", "Test"),
            value=field("value", "Result"),
            unit=field("unit", "Unit", required=False) or None,
        )
        shown = f"{row.test} = {row.value} {row.unit or ''}".strip()
        if row.in_spec is False:
            flash(
                f"Sample {ref}: {shown} is OUT OF SPECIFICATION. Deviation {row.deviation} is open and the "
                "sample's step is held until a supervisor has assessed it.",
                "error",
            )
        elif row.in_spec is None:
            flash(f"Sample {ref}: {shown} recorded; the recipe gives no specification, QA judges it at review.")
        else:
            flash(f"Sample {ref}: {shown} recorded, within specification.")
    return redirect(url_for("samples.index"))
