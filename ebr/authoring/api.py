"""``/api/recipes``: master recipe versions: list, versions, get, import, export, diff, submit, approve.

Import takes the document (YAML or BatchML) in a JSON body (``{"content": "...", "name"?}``)
with the same validation and unmapped report as ``ebr recipe import``; a refused
document stores nothing and answers 422 with every problem and its path. Submitting
("authored") and approving ("approved", never by the author or importer) are
electronic signatures: the body carries the signer's user id and password, so an
API token (which never signs) is refused for them.
"""

from __future__ import annotations

import json
from typing import Any

import marshmallow as ma
from flask import Response
from marshmallow import fields, validate

from ebr.api.common import actor, blueprint, own_credentials, services, work
from ebr.api.schemas import Strict
from ebr.web import access
from recipes.models import RecipeVersion

blp = blueprint("api_recipes", "/api/recipes", "Master recipes: versions, import, export, review and approval")

FORMATS = {"batchml": "application/xml", "yaml": "application/yaml"}


class VersionOut(ma.Schema):
    name = fields.String()
    version = fields.Integer()
    label = fields.String()
    status = fields.String()
    title = fields.String()
    product = fields.String(attribute="product_code")
    content_hash = fields.String()
    source_format = fields.String()
    created_at = fields.AwareDateTime()
    created_by = fields.String()
    submitted_at = fields.AwareDateTime(allow_none=True)
    submitted_by = fields.String(allow_none=True)
    approved_at = fields.AwareDateTime(allow_none=True)
    approved_by = fields.String(allow_none=True)
    effective_from = fields.AwareDateTime(allow_none=True)
    unmapped = fields.Method("_unmapped")

    def _unmapped(self, row: RecipeVersion) -> list[str]:
        return list(json.loads(row.unmapped or "[]"))


class RecipeOut(VersionOut):
    content = fields.Method("_content", metadata={"description": "the recipe in its authoring (YAML) form"})

    def _content(self, row: RecipeVersion) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(row.content)  # checked against its hash by RecipeService.get
        return data


class ListQuery(Strict):
    name = fields.String(load_default=None, validate=validate.Length(min=1, max=100))


class ImportIn(Strict):
    content = fields.String(
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "the YAML or BatchML V0701 document, as text"},
    )
    name = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "the recipe's name, when the document's own is wrong"},
    )


class ExportQuery(Strict):
    format = fields.String(load_default="batchml", validate=validate.OneOf(sorted(FORMATS)))


class DiffQuery(Strict):
    a = fields.String(required=True, validate=validate.Length(min=1, max=120))
    b = fields.String(required=True, validate=validate.Length(min=1, max=120))


class DiffOut(ma.Schema):
    a = fields.String()
    b = fields.String()
    same = fields.Boolean()
    diff = fields.String(metadata={"description": "a unified diff of the two versions' authoring form"})


class RecipeSignature(Strict):
    user_id = fields.String(required=True, validate=validate.Length(min=1, max=100))
    password = fields.String(required=True, load_only=True)


class SubmitIn(Strict):
    signature = fields.Nested(RecipeSignature, required=True)
    reason = fields.String(load_default=None, validate=validate.Length(max=2000))


class ApproveIn(SubmitIn):
    effective_from = fields.AwareDateTime(load_default=None, metadata={"description": "default: now"})


@blp.route("", methods=["GET"])
@access.requires("recipe.view")
@blp.arguments(ListQuery, location="query")
@blp.response(200, VersionOut(many=True))
def list_(query: dict[str, Any]) -> list[RecipeVersion]:
    """Every recipe version (of ``name``, or all), by name then version."""
    with work() as session:
        return services().recipes.list(session, query["name"])


@blp.route("/<name>/versions", methods=["GET"])
@access.requires("recipe.view")
@blp.response(200, VersionOut(many=True))
def versions(name: str) -> list[RecipeVersion]:
    """Every version of recipe ``name`` (an empty list for an unknown name)."""
    with work() as session:
        return services().recipes.list(session, name)


@blp.route("/diff", methods=["GET"])
@access.requires("recipe.view")
@blp.arguments(DiffQuery, location="query")
@blp.response(200, DiffOut)
def diff(query: dict[str, Any]) -> dict[str, Any]:
    """What changed from version ``a`` to version ``b`` (``NAME@N`` each)."""
    with work() as session:
        text = services().recipes.diff(session, query["a"], query["b"])
    return {"a": query["a"], "b": query["b"], "same": not text, "diff": text}


@blp.route("/<ref>", methods=["GET"])
@access.requires("recipe.view")
@blp.response(200, RecipeOut)
def get(ref: str) -> RecipeVersion:
    """One version (``NAME@N``, or ``NAME`` for the latest) with its content."""
    with work() as session:
        row, _recipe = services().recipes.get(session, ref)
        return row


@blp.route("/import", methods=["POST"])
@access.requires("recipe.author")
@blp.arguments(ImportIn)
@blp.response(201, VersionOut(many=True))
def import_(data: dict[str, Any]) -> list[RecipeVersion]:
    """Validate a YAML or BatchML document and store each recipe in it as a new draft version."""
    with work() as session:
        return services().recipes.import_text(
            session, actor=actor(), data=data["content"].encode("utf-8"), source="request body", name=data["name"]
        )


@blp.route("/<ref>/export", methods=["GET"])
@access.requires("recipe.view")
@blp.arguments(ExportQuery, location="query")
@blp.response(200, content_type="application/xml")
@blp.alt_response(200, success=True, content_type="application/yaml", description="the recipe as YAML")
def export(query: dict[str, Any], ref: str) -> Response:
    """One version as BatchML V0701 (``format=batchml``, default) or YAML (``format=yaml``)."""
    from recipes.authoring import to_yaml
    from recipes.batchml import export_batchml

    with work() as session:
        row, recipe = services().recipes.get(session, ref)
        fmt, version = query["format"], str(row.version)
        filename = f"{row.name}@{row.version}.{'xml' if fmt == 'batchml' else 'yaml'}"
    body = export_batchml(recipe, version=version) if fmt == "batchml" else to_yaml(recipe).encode("utf-8")
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(body, mimetype=FORMATS[fmt], headers=headers)


@blp.route("/<ref>/submit", methods=["POST"])
@access.requires("recipe.author")
@blp.arguments(SubmitIn)
@blp.response(200, VersionOut)
def submit(data: dict[str, Any], ref: str) -> RecipeVersion:
    """Sign a draft "authored" (your user id and password) and send it for review."""
    with work() as session:
        return services().recipes.submit_for_review(
            session, ref=ref, user_id=_signer(data), password=data["signature"]["password"], reason=data["reason"]
        )


@blp.route("/<ref>/approve", methods=["POST"])
@access.requires("recipe.approve")
@blp.arguments(ApproveIn)
@blp.response(200, VersionOut)
def approve(data: dict[str, Any], ref: str) -> RecipeVersion:
    """Sign a version in review "approved" (never your own) and make it effective."""
    with work() as session:
        return services().recipes.approve(
            session,
            ref=ref,
            user_id=_signer(data),
            password=data["signature"]["password"],
            effective_from=data["effective_from"],
            reason=data["reason"],
        )


def _signer(data: dict[str, Any]) -> str:
    """The signer must be the signed-in person: nobody signs in another's session (403)."""
    return own_credentials(data["signature"], meaning="signed").user_id
