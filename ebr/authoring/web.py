"""Recipes: list of master recipe versions, one version's content and procedure chart, upload,
the edit form of a draft, the side-by-side diff, review and approval.

Submitting ("authored") and approving ("approved", never by the author) are signed:
the form asks for user id and password and shows the meaning and the version. An upload
goes through the same validation as ``ebr recipe import`` (problems listed with their
paths, nothing stored on error); an edit of a draft through the same validation again.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from ebr.authoring import sfc
from ebr.core.errors import NotFound, ValidationError
from ebr.web import access
from ebr.web.helpers import field, read, services, work
from recipes.diff import side_by_side
from recipes.editing import editable
from recipes.model import Recipe
from signatures.signing import require_own_signature

bp = Blueprint("recipes_ui", __name__, url_prefix="/recipes", template_folder="templates")


@bp.get("/")
@access.requires("recipe.view")
def index() -> ResponseReturnValue:
    """Every recipe version by name and version, with its status."""
    with read() as session:
        versions = services().recipes.list(session)
    return render_template("recipes/index.html", versions=versions)


@bp.get("/<ref>")
@access.requires("recipe.view")
def version(ref: str) -> ResponseReturnValue:
    """One version (``NAME@N``): its procedure, formula and lifecycle, and the signing forms."""
    recipes = services().recipes
    with read() as session:
        row, recipe = recipes.get(session, ref)
        others = [v for v in recipes.list(session, row.name) if v.id != row.id]
    return render_template("recipes/version.html", row=row, recipe=recipe, others=others)


@bp.get("/diff")
@access.requires("recipe.view")
def diff() -> ResponseReturnValue:
    """Two versions side by side, changes marked (``?a=NAME@1&b=NAME@2``)."""
    a, b = request.args.get("a", ""), request.args.get("b", "")
    recipes = services().recipes
    with read() as session:
        _row_a, recipe_a = recipes.get(session, a)
        _row_b, recipe_b = recipes.get(session, b)
    return render_template("recipes/diff.html", a=a, b=b, rows=side_by_side(recipe_a, recipe_b))


@bp.route("/upload", methods=["GET", "POST"])
@access.requires("recipe.author")
def upload() -> ResponseReturnValue:
    """Upload a YAML or BatchML file: each recipe in it becomes a new draft (or every problem is listed)."""
    if request.method == "GET":
        return render_template("recipes/upload.html")
    file = request.files.get("file")
    if file is None or not file.filename:
        return render_template("recipes/upload.html", error="Choose a file to upload.", problems=[]), 422
    limit = services().settings.input_max_bytes
    data = file.stream.read(limit + 1)
    name = (request.form.get("name") or "").strip() or None
    try:
        if len(data) > limit:
            raise ValidationError(f"{file.filename} is larger than {limit} bytes (EBR_INPUT_MAX_BYTES); split it")
        with work() as session:
            rows = services().recipes.import_text(
                session, actor=access.user_id(), data=data, source=file.filename, name=name
            )
            done = [(row.label, json.loads(row.unmapped or "[]")) for row in rows]
    except ValidationError as exc:
        page = render_template("recipes/upload.html", error=exc.summary, problems=exc.problems, filename=file.filename)
        return page, 422
    for label, unmapped in done:
        flash(f"{label} imported as a draft" + (f"; {len(unmapped)} element(s) not mapped" if unmapped else "."))
    return redirect(url_for("recipes_ui.version", ref=done[0][0]))


@bp.route("/<ref>/edit", methods=["GET", "POST"])
@access.requires("recipe.author")
def edit(ref: str) -> ResponseReturnValue:
    """The form of a draft's texts, limits, parameters and materials (structure stays in YAML)."""
    recipes = services().recipes
    with read() as session:
        row, recipe = recipes.get(session, ref)
    label = row.label
    current = editable(recipe)
    if request.method == "GET":
        return render_template("recipes/edit.html", row=row, recipe=recipe, values=current, problems=[])
    edits = {k: v for k, v in request.form.items() if k in current and v.strip() != current[k].strip()}
    try:
        with work() as session:
            recipes.edit_draft(
                session, ref=label, actor=access.user_id(), edits=edits,
                reason=field("reason", "Reason", required=False) or None,
            )  # fmt: skip
    except ValidationError as exc:
        values = {**current, **{k: v for k, v in request.form.items() if k in current}}
        page = render_template(
            "recipes/edit.html", row=row, recipe=recipe, values=values, error=exc.summary, problems=exc.problems
        )
        return page, 422
    flash(f"{label} saved ({len(edits)} field(s) changed).")
    return redirect(url_for("recipes_ui.version", ref=label))


@bp.get("/<ref>/sfc.svg")
@access.requires("recipe.view")
def chart(ref: str) -> ResponseReturnValue:
    """The version's procedure as a sequential function chart (SVG)."""
    with read() as session:
        _row, recipe = services().recipes.get(session, ref)
    return _svg(recipe, active=(), done=())


@bp.get("/batch/<number>/sfc.svg")
@access.requires("batch.view")
def batch_chart(number: str) -> ResponseReturnValue:
    """A batch's control recipe as a chart, its current steps highlighted and its finished ones shaded."""
    from ebr.execution.models import Batch, BatchStep
    from recipes.states import State

    with read() as session:
        batch = session.scalars(select(Batch).where(Batch.number == number)).first()
        if batch is None:
            raise NotFound(f"no batch {number!r}; the worklist shows the batches")
        steps = session.execute(
            select(BatchStep.path, BatchStep.state).where(BatchStep.batch_id == batch.id, BatchStep.level == "phase")
        ).all()
        recipe = Recipe.from_dict(batch.control_recipe)
    finished = {State.COMPLETE.value, State.STOPPED.value, State.ABORTED.value}
    active = {path for path, state in steps if state not in finished and state != State.IDLE.value}
    done = {path for path, state in steps if state in finished}
    return _svg(recipe, active=active, done=done)


def _svg(recipe: Recipe, *, active: set[str] | tuple[()], done: set[str] | tuple[()]) -> Response:
    response = Response(sfc.svg(recipe, active=active, done=done), mimetype="image/svg+xml")
    # The picture is shown as an image; even opened alone it may run nothing.
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


@bp.post("/<ref>/submit")
@access.requires("recipe.author")
def submit(ref: str) -> ResponseReturnValue:
    """Sign a draft "authored" and send it for review."""
    signer = field("sig_user", "User id").lower()
    require_own_signature(access.user_id(), signer)  # nobody signs in another's session
    with work() as session:
        services().recipes.submit_for_review(
            session,
            ref=ref,
            user_id=signer,
            password=field("sig_password", "Password"),
            reason=field("reason", "Reason", required=False) or None,
        )
    flash(f"{ref} sent for review.")
    return redirect(url_for("recipes_ui.version", ref=ref))


@bp.post("/<ref>/approve")
@access.requires("recipe.approve")
def approve(ref: str) -> ResponseReturnValue:
    """Sign a version in review "approved" and make it effective now."""
    signer = field("sig_user", "User id").lower()
    require_own_signature(access.user_id(), signer)  # nobody signs in another's session
    with work() as session:
        services().recipes.approve(
            session,
            ref=ref,
            user_id=signer,
            password=field("sig_password", "Password"),
            reason=field("reason", "Reason", required=False) or None,
        )
    flash(f"{ref} approved and effective.")
    return redirect(url_for("recipes_ui.version", ref=ref))
