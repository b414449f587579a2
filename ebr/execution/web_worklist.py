"""The operator's worklist (batches on the floor) and the list of all batches."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from ebr.execution import batches as batch_queries
from ebr.execution.models import Batch, BatchStep
from ebr.execution.rules import BatchStatus
from ebr.web import access
from ebr.web.helpers import execution, field, read, services, work
from recipes.states import State

bp = Blueprint("worklist", __name__, template_folder="templates")

OPEN_STATES = (State.IDLE.value, State.RUNNING.value, State.HELD.value, State.PAUSED.value)
ON_THE_FLOOR = (BatchStatus.IN_EXECUTION.value, BatchStatus.READY.value)


def open_steps(batches: list[Batch]) -> dict[str, list[BatchStep]]:
    """Per batch id, the phases that are ready or running now."""
    if not batches:
        return {}
    with read() as session:
        rows = session.scalars(
            select(BatchStep).where(
                BatchStep.batch_id.in_([b.id for b in batches]),
                BatchStep.level == "phase",
                BatchStep.ready.is_(True),
                BatchStep.state.in_(OPEN_STATES),
            )
        )
        found: dict[str, list[BatchStep]] = {}
        for row in rows:
            found.setdefault(row.batch_id, []).append(row)
    return found


@bp.get("/worklist/")
@access.requires("batch.execute")
def index() -> ResponseReturnValue:
    """Batches released to the floor or running, with their current steps."""
    with read() as session:
        batches = [b for status in ON_THE_FLOOR for b in batch_queries.list_batches(session, status=status)]
    return render_template("worklist/index.html", batches=batches, steps=open_steps(batches))


@bp.get("/batches/")
@access.requires("batch.view")
def batches() -> ResponseReturnValue:
    """Every batch, newest first, optionally of one status."""
    status = request.args.get("status") or None
    with read() as session:
        found = batch_queries.list_batches(session, status=status)
        recipes = [v for v in services().recipes.list(session) if v.status == "approved"]
    return render_template(
        "worklist/batches.html", batches=found, status=status, statuses=list(BatchStatus), recipes=recipes
    )


@bp.post("/batches/")
@access.requires("batch.create")
def create() -> ResponseReturnValue:
    """Create a batch of an approved, effective recipe and release it to the floor."""
    ex = execution()
    with work() as session:
        batch = ex.create_batch(
            session,
            actor=access.user_id(),
            recipe=field("recipe", "Recipe"),
            version=None,
            size=field("size", "Batch size"),
            order=field("order", "Production order"),
        )
        number = batch.number
        ex.release_to_floor(session, actor=access.user_id(), ref=number)
    flash(f"Batch {number} created and released to the floor.")
    return redirect(url_for("execute.batch", number=number))
