"""Correcting a recorded value in the browser: new value, reason and signature; the original stays.

The "Correct" control sits beside each correctable value in a running step's panel
and on the step's own page. Its dialog shows exactly what is signed (batch, step,
old value → new value, reason) and the meaning. The engine
(``ebr.execution.corrections``) keeps the original, supersedes it, signs, opens a
deviation when the new value is outside its limits and writes the audit event, all in
one unit of work. htmx gets back the region the form came from (``HX-Target``: the
batch's working area or the step page's values); a refusal reopens the dialog with
what was typed and shows a ``role="alert"`` banner, and nothing is stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from ebr.core.errors import EbrError, NotFound, ValidationError
from ebr.execution import numbers
from ebr.execution.models import BatchStep, StepEntry
from ebr.execution.view_entries import CORRECTION_MEANING
from ebr.execution.web import step_view, work_area
from ebr.materials.services import Credentials
from ebr.web import access, helpers
from ebr.web.errors import status_for
from ebr.web.helpers import execution, read, work

bp = Blueprint("corrections", __name__, url_prefix="/batches", template_folder="templates")

# The id of the batch page's working area (execute/_work.html); anything else is the step page.
WORK_AREA = "work"


@dataclass(frozen=True)
class Correcting:
    """A refused correction: its dialog opens again with what was typed (never the password)."""

    entry_id: str
    value: str
    reason: str
    error: EbrError


def _step_path(number: str, entry_id: str) -> str:
    """The path of the step holding ``entry_id``; NotFound unless the value belongs to batch ``number``."""
    with read() as session:
        batch = execution().ctx.batch(session, number)
        entry = session.get(StepEntry, entry_id)
        step = session.get(BatchStep, entry.step_id) if entry is not None else None
        if entry is None or step is None or entry.batch_id != batch.id:
            raise NotFound(f"batch {number} has no recorded value {entry_id!r}; reload the page")
        return step.path


def _signature() -> Credentials:
    user_id = (request.form.get("sig_user") or "").strip().lower()
    password = request.form.get("sig_password") or ""
    if not user_id or not password:
        raise ValidationError("the correction must be signed: enter your user id and password")
    return Credentials(user_id=user_id, password=password, meaning=CORRECTION_MEANING)


def _region(number: str, path: str, *, notice: str = "", correcting: Correcting | None = None) -> str:
    """The region the form came from, rendered again (with the notice, or with the refusal)."""
    error = correcting.error if correcting else None
    ctx = execution().ctx
    with read() as session:
        if request.headers.get("HX-Target") == WORK_AREA:
            area = work_area(session, ctx, number, path=path, error=error, notice=notice)
            return render_template("execute/_work.html", **area, correcting=correcting)
        view = step_view(session, ctx, number, path)
        return render_template("execute/_values.html", v=view, notice=notice, error=error, correcting=correcting)


def _typed(session: Session, entry_id: str, value: str) -> str:
    """A new numeric value as typed under the plant's locale (decimal comma), in the engine's form."""
    old = session.get(StepEntry, entry_id)
    if old is None or (old.unit is None and old.in_limits is None):
        return value  # text, or unknown (the engine says so)
    return numbers.normalize(value, helpers.services().settings.plant_locale, label="new value")


@bp.post("/<number>/entries/<entry_id>/correction")
@access.requires("entry.correct")
def correct(number: str, entry_id: str) -> ResponseReturnValue:
    """Correct a recorded value with a reason and the corrector's signature; the original stays in the record."""
    path = _step_path(number, entry_id)
    value = (request.form.get("value") or "").strip()
    reason = (request.form.get("reason") or "").strip()
    try:
        signature = _signature()
        with work() as session:
            value = _typed(session, entry_id, value)
            new, deviation = execution().correct_entry(
                session, actor=access.user_id(), entry_id=entry_id, value=value, reason=reason, signature=signature
            )
            old = session.get(StepEntry, entry_id)
            assert old is not None
            notice = f"Step {path}, {new.name} corrected: {old.value} → {new.value} {new.unit or ''}".rstrip() + "."
            if deviation is not None:
                notice += f" The new value is outside its limits: deviation {deviation.number} was opened."
    except EbrError as error:
        if not request.headers.get("HX-Request"):
            raise
        return _region(number, path, correcting=Correcting(entry_id, value, reason, error)), status_for(error)
    if not request.headers.get("HX-Request"):
        flash(notice)
        return redirect(url_for("execute.step", number=number, path=path))
    return _region(number, path, notice=notice)
