"""Recipes: list of master recipe versions, one version's content, diff, review and approval.

Submitting ("authored") and approving ("approved", never by the author) are signed:
the form asks for user id and password and shows the meaning and the version.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ebr.web import access
from ebr.web.helpers import field, read, services, work

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
    """A readable diff between two versions (``?a=NAME@1&b=NAME@2``)."""
    a, b = request.args.get("a", ""), request.args.get("b", "")
    with read() as session:
        text = services().recipes.diff(session, a, b)
    return render_template("recipes/diff.html", a=a, b=b, lines=text.splitlines())


@bp.post("/<ref>/submit")
@access.requires("recipe.author")
def submit(ref: str) -> ResponseReturnValue:
    """Sign a draft "authored" and send it for review."""
    with work() as session:
        services().recipes.submit_for_review(
            session,
            ref=ref,
            user_id=field("sig_user", "User id").lower(),
            password=field("sig_password", "Password"),
            reason=field("reason", "Reason", required=False) or None,
        )
    flash(f"{ref} sent for review.")
    return redirect(url_for("recipes_ui.version", ref=ref))


@bp.post("/<ref>/approve")
@access.requires("recipe.approve")
def approve(ref: str) -> ResponseReturnValue:
    """Sign a version in review "approved" and make it effective now."""
    with work() as session:
        services().recipes.approve(
            session,
            ref=ref,
            user_id=field("sig_user", "User id").lower(),
            password=field("sig_password", "Password"),
            reason=field("reason", "Reason", required=False) or None,
        )
    flash(f"{ref} approved and effective.")
    return redirect(url_for("recipes_ui.version", ref=ref))
