"""The yield page of a batch (``/batches/<number>/yield``): yields, reconciliation, and the returns form.

Reading needs ``batch.view``; recording a container's return (re-weighed) and waste
needs ``batch.execute``, as ``POST /api/batches/<ref>/returns`` does. Numbers are
typed and shown in the plant's locale (``ebr.execution.numbers``); what is stored is canonical.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from ebr.execution import numbers, yields
from ebr.execution.rules import parse_decimal
from ebr.web import access
from ebr.web.helpers import execution, field, read, services, work

bp = Blueprint("yields", __name__, url_prefix="/batches", template_folder="templates")


@bp.get("/<number>/yield")
@access.requires("batch.view")
def page(number: str) -> ResponseReturnValue:
    """Every yield with its verdict and the reconciliation by container, with a form per unrecorded container."""
    with read() as session:
        batch = execution().ctx.batch(session, number)
        batch_yields, balances = yields.of_batch(session, batch)
    returnable = batch.status in yields.RETURNABLE
    return render_template(
        "yields/batch.html", batch=batch, yields=batch_yields, balances=balances, returnable=returnable
    )


@bp.post("/<number>/returns")
@access.requires("batch.execute")
def record_return(number: str) -> ResponseReturnValue:
    """Record one container's returned quantity and waste; the message says whether it reconciles."""
    locale = services().settings.plant_locale
    container = field("container", "Container")
    returned = parse_decimal("Returned", numbers.normalize(field("returned", "Returned"), locale, label="Returned"))
    raw_waste = field("waste", "Waste", required=False) or "0"
    waste = parse_decimal("Waste", numbers.normalize(raw_waste, locale, label="Waste"))
    with work() as session:
        _row, opened = yields.record_return(
            session,
            execution().ctx,
            actor=access.user_id(),
            ref=number,
            container=container,
            returned=returned,
            waste=waste,
        )
        if opened:
            names = ", ".join(d.number for d in opened)
            flash(f"Container {container}: reconciliation OUTSIDE its limit; deviation {names} is open.", "error")
        else:
            flash(f"Container {container}: return recorded.")
    return redirect(url_for("yields.page", number=number))
