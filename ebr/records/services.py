"""What the CLI and the web views call: print the record, write the BPR, export the batch bundle.

Each reads one snapshot of the batch (a short read transaction: a 200-page layout
must not hold SQLite's write lock), renders outside any transaction, then audits
the output in its own short transaction: who printed or exported which record,
when, and the SHA-256 of what they took away.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.bundle import ExportResult, export_bundle
from audit.chain import Entity
from ebr.bootstrap import Services
from ebr.core.canonical import sha256_hex
from ebr.core.errors import NotFound, ValidationError
from ebr.execution.models import Batch
from ebr.records import bpr, queries
from ebr.records.pdf import RenderStats, render_pdf
from ebr.records.record import Printed, build_record, record_bytes

Progress = Callable[[str], None]


@dataclass(frozen=True)
class RecordFile:
    """A rendered output: its bytes, the record it came from and the batch number."""

    data: bytes
    record: dict[str, Any]
    record_json: bytes
    number: str
    pages: int = 0


def _batch(session: Session, ref: str) -> Batch:
    found = session.scalars(select(Batch).where((Batch.id == ref) | (Batch.number == ref))).first()
    if found is None:
        raise NotFound(f"no batch {ref!r}; `ebr batch list` shows the batches")
    return found


def _printer(session: Session, services: Services, actor: str) -> str:
    if actor.startswith("system:"):
        return actor
    return queries.full_names(session, [actor]).get(actor, actor)


def snapshot(services: Services, *, ref: str, actor: str) -> dict[str, Any]:
    """``record.json`` of batch ``ref`` as it stands now, printed by ``actor``."""
    with services.session_factory() as session:
        batch = _batch(session, ref)
        printed = Printed(
            by=actor, by_name=_printer(session, services, actor), at=services.clock.now(),
            timezone=services.settings.plant_timezone,
        )  # fmt: skip
        record = build_record(session, batch, printed)
        session.rollback()
    return record


def _audit(services: Services, *, actor: str, action: str, number: str, after: dict[str, Any], reason: str) -> None:
    with services.session_factory.begin() as session:
        services.audit.record(
            session, actor=actor, action=action, entity=Entity("batch", number), after=after, reason=reason
        )


def print_record(
    services: Services, *, ref: str, actor: str, parallel: bool | None = None, progress: Progress | None = None
) -> RecordFile:
    """The batch record PDF (PDF/A-3b, record.json attached); the printing is audited."""
    record = snapshot(services, ref=ref, actor=actor)
    number = record["batch"]["number"]
    data = record_bytes(record)
    if progress is not None:
        progress(f"record of {number}: {len(record['steps'])} steps, {len(record['audit_trail']['events'])} events")
    stats = RenderStats()
    pdf = render_pdf(record, data, parallel=parallel, progress=progress, stats=stats)
    after = {"file": "record.pdf", "pages": stats.pages, "sha256": sha256_hex(pdf), "record_sha256": sha256_hex(data),
             "to_seq": record["audit_trail"]["to_seq"]}  # fmt: skip
    _audit(
        services, actor=actor, action="batch.record.printed", number=number, after=after, reason="batch record printed"
    )
    return RecordFile(pdf, record, data, number, stats.pages)


def production_record(services: Services, *, ref: str, actor: str) -> RecordFile:
    """The BatchML V0701 batch production record (validated); the export is audited."""
    record = snapshot(services, ref=ref, actor=actor)
    number = record["batch"]["number"]
    xml = bpr.export_bpr(record)
    after = {"file": "bpr.xml", "sha256": sha256_hex(xml), "to_seq": record["audit_trail"]["to_seq"]}
    _audit(services, actor=actor, action="batch.bpr.exported", number=number, after=after, reason="BatchML BPR export")
    return RecordFile(xml, record, record_bytes(record), number)


def export_batch_bundle(
    services: Services, *, ref: str, actor: str, out_path: Path, progress: Progress | None = None
) -> ExportResult:
    """The auditor's bundle of one batch (docs/audit-bundle.md §5) with record.json and record.pdf.

    The bundle shows the batch's events whole and redacts the others in range; a
    fresh checkpoint is made when none covers the last event. The export is audited.
    """
    printed = print_record(services, ref=ref, actor=actor, progress=progress)
    record, number = printed.record, printed.number
    events = record["audit_trail"]["events"]
    if not events:
        raise ValidationError(f"batch {number} has no audit events; nothing to export")
    seqs = {int(e["seq"]) for e in events}
    upto = int(record["audit_trail"]["to_seq"])
    scope = {"batch": number, "from_seq": min(seqs), "to_seq": upto}
    with services.session_factory.begin() as session:
        rows = queries.signature_rows(session, record["signatures"])
        signatures = [json.loads(rows[sid].record) for sid in sorted(rows, key=lambda s: (rows[s].ts, s))]
        result = export_bundle(
            session,
            out_path=out_path,
            scope=scope,
            clock=services.clock,
            from_seq=min(seqs),
            to_seq=upto,
            in_scope=lambda event: int(event["seq"]) in seqs,
            signatures=signatures,
            user_keys=services.signing.public_keys(session),
            extra_files={"record.json": printed.record_json, "record.pdf": printed.data},
            checkpointer=services.checkpointer,
            progress=None if progress is None else (lambda n: progress(f"chain: {n} more events read")),
        )
        services.audit.record(
            session,
            actor=actor,
            action="batch.record.exported",
            entity=Entity("batch", number),
            after={"file": out_path.name, "first_seq": result.first_seq, "last_seq": result.last_seq, "scope": scope,
                   "sha256": sha256_hex(out_path.read_bytes())},
            reason="batch bundle export",
        )  # fmt: skip
    return result
