"""``/api/audit``: the audit trail for auditors' tools: search with filters and paging,
the chain's status, a verification run, and the auditor's bundle (docs/audit-bundle.md).

Read-only but for the verification, which is itself audited. The search filters are
those of the audit page (record type and id — a batch's id also finds its steps —,
user, action prefix) with a time range of RFC 3339 moments.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import marshmallow as ma
from flask import Response
from marshmallow import fields, validate
from sqlalchemy import func, select
from werkzeug.utils import secure_filename

from audit.chain import Entity
from audit.models import AuditEvent
from ebr.api.common import actor, blueprint, services
from ebr.api.schemas import Strict
from ebr.core.errors import NotFound, ValidationError
from ebr.trail import services as audit_service
from ebr.trail.web import AuditQuery, chain_status
from ebr.web import access

blp = blueprint("api_audit", "/api/audit", "The audit trail: search, integrity, export")


class SearchQuery(Strict):
    entity_type = fields.String(load_default="", validate=validate.Length(max=100))
    entity_id = fields.String(load_default="", validate=validate.Length(max=400))
    actor = fields.String(load_default="", validate=validate.Length(max=200))
    action = fields.String(load_default="", metadata={"description": "an action or its prefix (batch.step)"})
    since = fields.AwareDateTime(load_default=None)
    until = fields.AwareDateTime(load_default=None, metadata={"description": "exclusive"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    page_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class EventOut(ma.Schema):
    seq = fields.Integer()
    ts = fields.AwareDateTime()
    actor = fields.String()
    action = fields.String()
    entity_type = fields.String()
    entity_id = fields.String()
    reason = fields.String(allow_none=True)
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True)
    hash = fields.String()


class PageOut(ma.Schema):
    total = fields.Integer()
    page = fields.Integer()
    page_size = fields.Integer()
    events = fields.List(fields.Nested(EventOut))


class VerificationOut(ma.Schema):
    at = fields.AwareDateTime()
    by = fields.String()
    ok = fields.Boolean()
    detail = fields.String()


class CheckpointOut(ma.Schema):
    seq = fields.Integer()
    ts = fields.AwareDateTime()
    key_id = fields.String()


class StatusOut(ma.Schema):
    head_seq = fields.Integer()
    head_ts = fields.AwareDateTime(allow_none=True)
    unsealed = fields.Integer(metadata={"description": "events after the newest signed tree head"})
    checkpoint = fields.Nested(CheckpointOut, allow_none=True)
    verification = fields.Nested(VerificationOut, allow_none=True, metadata={"description": "the newest run"})


class ExportQuery(Strict):
    entity_type = fields.String(load_default="", validate=validate.Length(max=100))
    entity_id = fields.String(load_default="", validate=validate.Length(max=400))


def _event(row: AuditEvent) -> dict[str, Any]:
    event = json.loads(row.canonical)
    return {
        "seq": row.seq, "ts": row.ts, "actor": row.actor, "action": row.action, "entity_type": row.entity_type,
        "entity_id": row.entity_id, "reason": row.reason, "before": event.get("before"), "after": event.get("after"),
        "hash": row.hash,
    }  # fmt: skip


@blp.route("/events", methods=["GET"])
@access.requires("audit.view")
@blp.arguments(SearchQuery, location="query")
@blp.response(200, PageOut)
def search(query: dict[str, Any]) -> dict[str, Any]:
    """Events matching every filter given, newest first, one page at a time."""
    if query["since"] and query["until"] and query["since"] >= query["until"]:
        raise ValidationError("'since' is not before 'until': swap them")
    filters = AuditQuery(
        entity_type=query["entity_type"].strip(), entity_id=query["entity_id"].strip(),
        actor=query["actor"].strip(), action=query["action"].strip(),
    )  # fmt: skip
    stmt = filters.statement()
    if query["since"]:
        stmt = stmt.where(AuditEvent.ts >= query["since"])
    if query["until"]:
        stmt = stmt.where(AuditEvent.ts < query["until"])
    size, page = query["page_size"], query["page"]
    with services().session_factory() as session:
        total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        rows = session.scalars(stmt.order_by(AuditEvent.seq.desc()).offset((page - 1) * size).limit(size))
        events = [_event(row) for row in rows]
        session.rollback()
    return {"total": total, "page": page, "page_size": size, "events": events}


@blp.route("/status", methods=["GET"])
@access.requires("audit.view")
@blp.response(200, StatusOut)
def status() -> dict[str, Any]:
    """The head of the chain, the newest signed tree head and the newest verification's result."""
    return _status()


@blp.route("/verify", methods=["POST"])
@access.requires("audit.verify")
@blp.response(200, StatusOut)
def verify() -> dict[str, Any]:
    """Verify the whole chain now (the run is audited as you) and answer the status with its result."""
    audit_service.verify_live(services(), actor=actor())
    return _status()


def _status() -> dict[str, Any]:
    with services().session_factory() as session:
        found = chain_status(session)
        session.rollback()
    return found


@blp.route("/export", methods=["GET"])
@access.requires("audit.export")
@blp.arguments(ExportQuery, location="query")
@blp.response(200, content_type="application/zip")
def export(query: dict[str, Any]) -> Response:
    """The auditor's bundle (zip): the whole trail, or one record's events (``entity_type`` + ``entity_id``)."""
    entity_type, entity_id = query["entity_type"].strip(), query["entity_id"].strip()
    if bool(entity_type) != bool(entity_id):
        raise ValidationError("the export needs both entity_type and entity_id, or neither")
    entity = Entity(entity_type, entity_id) if entity_type else None
    svc = services()
    if entity is not None:
        with svc.session_factory() as session:
            found = session.scalar(AuditQuery(entity_type=entity_type, entity_id=entity_id).statement().limit(1))
            session.rollback()
        if found is None:
            raise NotFound(f"the audit trail has no event of {entity_type} {entity_id!r}; search for it first")
    svc.settings.exports_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=svc.settings.exports_dir) as tmp:
        name = secure_filename(f"audit-{entity_type}-{entity_id}.zip" if entity else "audit-trail.zip") or "audit.zip"
        path = Path(tmp) / name
        audit_service.export(svc, out_path=path, entity=entity, actor=actor())
        data = path.read_bytes()
    return Response(data, mimetype="application/zip", headers={"Content-Disposition": f'attachment; filename="{name}"'})
