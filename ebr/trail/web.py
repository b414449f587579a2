"""Auditor pages: search the trail (entity, user, action, date range) and see the chain's state.

Read-only. Dates in the filter are plant-local calendar days (the zone is shown);
the range includes the whole "to" day.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from werkzeug.utils import secure_filename

from audit.chain import Entity
from audit.models import AuditCheckpoint, AuditEvent
from ebr.core.errors import ValidationError
from ebr.trail import services as audit_service
from ebr.trail.services import CHAIN_ENTITY
from ebr.web import access
from ebr.web.registry import services_of
from ebr.web.ui import plant_zone

bp = Blueprint("audit_ui", __name__, url_prefix="/audit", template_folder="templates")

PAGE_SIZE = 50


@dataclass
class AuditQuery:
    """The search form, parsed and validated."""

    entity_type: str = ""
    entity_id: str = ""
    actor: str = ""
    action: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    page: int = 1
    problems: list[str] = field(default_factory=list)

    @classmethod
    def from_args(cls, args: Any) -> AuditQuery:
        query = cls(
            entity_type=args.get("entity_type", "").strip(),
            entity_id=args.get("entity_id", "").strip(),
            actor=args.get("actor", "").strip(),
            action=args.get("action", "").strip(),
        )
        query.date_from = query._date(args.get("date_from", ""), "From")
        query.date_to = query._date(args.get("date_to", ""), "To")
        if query.date_from and query.date_to and query.date_from > query.date_to:
            query.problems.append("'From' is after 'To': swap the dates")
        page = args.get("page", "1")
        query.page = int(page) if page.isdigit() and int(page) > 0 else 1
        return query

    def _date(self, raw: str, label: str) -> dt.date | None:
        if not raw:
            return None
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            self.problems.append(f"{label} date {raw!r} is not a date; use YYYY-MM-DD")
            return None

    def statement(self) -> Select[AuditEvent]:
        stmt = select(AuditEvent)
        if self.entity_type:
            stmt = stmt.where(AuditEvent.entity_type == self.entity_type)
        if self.entity_id:
            # A batch's id also finds its steps ("B-1/UP1.OP1.PH1"): the record and its parts.
            prefix = AuditEvent.entity_id.startswith(self.entity_id + "/", autoescape=True)
            stmt = stmt.where((AuditEvent.entity_id == self.entity_id) | prefix)
        if self.actor:
            stmt = stmt.where(AuditEvent.actor == self.actor)
        if self.action:
            # A prefix finds a family of actions: "batch.step" finds batch.step.completed.
            stmt = stmt.where(AuditEvent.action.startswith(self.action, autoescape=True))
        zone = plant_zone()
        if self.date_from:
            stmt = stmt.where(AuditEvent.ts >= dt.datetime.combine(self.date_from, dt.time(), zone))
        if self.date_to:
            end = dt.datetime.combine(self.date_to + dt.timedelta(days=1), dt.time(), zone)
            stmt = stmt.where(AuditEvent.ts < end)
        return stmt


@dataclass(frozen=True)
class EventView:
    """One event for display: the searchable columns plus old and new values from the hashed bytes."""

    seq: int
    ts: dt.datetime
    actor: str
    action: str
    entity_type: str
    entity_id: str
    reason: str | None
    changes: list[tuple[str, str, str]]

    @classmethod
    def of(cls, row: AuditEvent) -> EventView:
        event = json.loads(row.canonical)
        before, after = event.get("before") or {}, event.get("after") or {}
        names = sorted(set(before) | set(after))
        changes = [
            (n, _show(before.get(n)) if n in before else "", _show(after.get(n)) if n in after else "") for n in names
        ]
        return cls(row.seq, row.ts, row.actor, row.action, row.entity_type, row.entity_id, row.reason, changes)


def _value(values: dict[str, Any], name: str) -> str:
    return _show(values[name]) if name in values else ""


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def chain_status(session: Session) -> dict[str, Any]:
    """Head of the chain and the newest signed checkpoint."""
    head = session.execute(select(AuditEvent.seq, AuditEvent.ts).order_by(AuditEvent.seq.desc()).limit(1)).first()
    checkpoint = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)).first()
    verified = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == "audit.chain.verified", AuditEvent.entity_type == CHAIN_ENTITY.type)
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).first()
    verification = None
    if verified is not None:
        summary = json.loads(verified.canonical).get("after") or {}
        detail = f"first broken event {summary.get('first_broken_seq')} ({summary.get('kind')})"
        verification = {"at": verified.ts, "by": verified.actor, "ok": bool(summary.get("ok")), "detail": detail}
    # Plain values, read now: the template renders after the session has closed.
    signed = {"seq": checkpoint.seq, "ts": checkpoint.ts, "key_id": checkpoint.key_id} if checkpoint else None
    return {
        "verification": verification,
        "head_seq": head[0] if head else 0,
        "head_ts": head[1] if head else None,
        "checkpoint": signed,
        "unsealed": (head[0] if head else 0) - (checkpoint.seq if checkpoint else 0),
    }


@bp.get("/")
@access.requires("audit.view")
def search() -> ResponseReturnValue:
    """The audit trail search page (the results alone for an htmx request)."""
    query = AuditQuery.from_args(request.args)
    services = services_of(current_app)
    template = "audit/results.html" if request.headers.get("HX-Request") else "audit/search.html"
    with services.session_factory() as session:
        status = chain_status(session)
        if query.problems:
            return render_template(template, query=query, events=[], total=0, status=status, page_size=PAGE_SIZE), 422
        stmt = query.statement()
        total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        rows = session.scalars(
            stmt.order_by(AuditEvent.seq.desc()).offset((query.page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
        )
        events = [EventView.of(row) for row in rows]
        session.rollback()
    return render_template(template, query=query, events=events, total=total, status=status, page_size=PAGE_SIZE)


@bp.post("/verify")
@access.requires("audit.verify")
def verify() -> ResponseReturnValue:
    """Verify the whole chain now (audited as the signed-in user) and show the status."""
    audit_service.verify_live(services_of(current_app), actor=access.user_id())
    if not request.headers.get("HX-Request"):
        return redirect(url_for("audit_ui.search"))
    with services_of(current_app).session_factory() as session:
        status = chain_status(session)
        session.rollback()
    return render_template("audit/_status.html", status=status)


@bp.get("/export")
@access.requires("audit.export")
def export() -> ResponseReturnValue:
    """Download an auditor's bundle: the whole trail, or one record's events (``entity_type`` + ``entity_id``)."""
    entity_type = request.args.get("entity_type", "").strip()
    entity_id = request.args.get("entity_id", "").strip()
    if bool(entity_type) != bool(entity_id):
        raise ValidationError("the export needs both the record type and the record id, or neither")
    entity = Entity(entity_type, entity_id) if entity_type else None
    services = services_of(current_app)
    services.settings.exports_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=services.settings.exports_dir) as tmp:
        name = f"audit-{entity_type}-{entity_id}.zip" if entity else "audit-trail.zip"
        path = Path(tmp) / name
        audit_service.export(services, out_path=path, entity=entity, actor=access.user_id())
        data = path.read_bytes()
    return Response(
        data,
        mimetype="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{secure_filename(name)}"'},
    )
