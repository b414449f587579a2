"""``record.json``: the machine-readable batch record, read in one snapshot.

The PDF is rendered from this document alone, so the printed record and the
attached/bundled ``record.json`` cannot disagree. ``signed_content`` maps each
signature id to the exact content it covers (docs/audit-bundle.md §5, §6.6). Times
are RFC 3339 UTC; quantities are decimal strings; the keys are documented in
docs/batch-record.md.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from audit.keys import current_system_key_id, fingerprint
from audit.trail import head
from ebr.core.canonical import canon, jsonable
from ebr.execution import review as review_items
from ebr.execution import yields
from ebr.execution.models import Batch, BatchStep, Deviation, RecordSignature, StepEntry
from ebr.execution.rules import deviation_signatures
from ebr.records import queries
from signatures.manifest import manifestation
from signatures.models import Signature

FORMAT = "ebr-batch-record/1"
PHASE_META = ("id", "name", "type", "signatures", "instructions")
TEXT_KEYS = ("text", "prompt", "statement")
RECORD_PARTS = frozenset({"batch_step", "deviation", "step_entry"})


@dataclass(frozen=True)
class Printed:
    """Who asks for the record and when (shown in every page's header)."""

    by: str
    by_name: str
    at: dt.datetime
    timezone: str = "UTC"


def _recipe_index(control: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Path → the control recipe's dict of that unit procedure, operation or phase."""
    index: dict[str, dict[str, Any]] = {}
    for up in control.get("unit_procedures", []):
        index[up["id"]] = up
        for op in up.get("operations", []):
            index[f"{up['id']}.{op['id']}"] = op
            for ph in op.get("phases", []):
                index[f"{up['id']}.{op['id']}.{ph['id']}"] = ph
    return index


def _entry(entry: StepEntry, corrected_by: dict[str, str]) -> dict[str, Any]:
    return {
        "id": entry.id,
        "name": entry.name,
        "value": entry.value,
        "unit": entry.unit,
        "in_limits": entry.in_limits,
        "source": entry.source,
        "recorded_at": entry.recorded_at,
        "recorded_by": entry.recorded_by,
        "corrects": entry.corrects,
        "correction_reason": entry.correction_reason,
        "superseded_at": entry.superseded_at,
        "corrected_by": corrected_by.get(entry.id),
    }


def _step(
    step: BatchStep, spec: dict[str, Any], rows: list[StepEntry], sigs: list[str], corrected_by: dict[str, str]
) -> dict[str, Any]:
    params = {k: v for k, v in spec.items() if k not in PHASE_META and k not in ("phases", "operations")}
    text = " ".join(str(spec[k]) for k in TEXT_KEYS if spec.get(k))
    return {
        "path": step.path,
        "level": step.level,
        "name": step.name,
        "type": step.phase_type,
        "unit": step.unit,
        "state": step.state,
        "instruction": " ".join(t for t in (text, spec.get("instructions") or "") if t),
        "parameters": params if step.level == "phase" else {},
        "required_signatures": list(spec.get("signatures") or []) if step.level == "phase" else [],
        "started_at": step.started_at,
        "started_by": step.started_by,
        "ended_at": step.ended_at,
        "ended_by": step.ended_by,
        "entries": [_entry(e, corrected_by) for e in rows],
        "signatures": sigs,
    }


def _deviation(dev: Deviation, sigs: list[str]) -> dict[str, Any]:
    return {
        "id": dev.id,
        "number": dev.number,
        "step": dev.step_path,
        "kind": dev.kind,
        "severity": dev.severity,
        "status": dev.status,
        "description": dev.description,
        "comment": dev.comment,
        "investigation_ref": dev.investigation_ref,
        "opened_at": dev.opened_at,
        "opened_by": dev.opened_by,
        "closed_at": dev.closed_at,
        "required_signatures": list(deviation_signatures(dev.severity)),
        "signatures": sigs,
    }


def _signature(row: Signature, names: dict[str, str], tz: str) -> dict[str, Any]:
    record = json.loads(row.record)
    return {
        "id": row.id,
        "signer": record["signer"],
        "printed_name": record["printed_name"],
        "meaning": record["meaning"],
        "ts": record["ts"],
        "subject": record["subject"],
        "reason": record["reason"],
        "content_hash": record["content_hash"],
        "key_id": record["key_id"],
        "manifestation": manifestation(record["printed_name"], row.ts, record["meaning"], tz),
    }


def _by_subject(links: list[RecordSignature]) -> dict[tuple[str, str], list[str]]:
    found: dict[tuple[str, str], list[str]] = {}
    for link in links:
        found.setdefault((link.subject_type, link.subject_id), []).append(link.signature_id)
    return found


def _materials(session: Session, batch: Batch) -> tuple[list[dict[str, Any]], list[str]]:
    used = queries.consumptions(session, batch)
    boxes = queries.containers(session, [c.container for c, _, _ in used if c.container])
    rows = []
    for consumption, lot, material in used:
        box = boxes.get(consumption.container or "")
        rows.append(
            {
                "step": consumption.step_path,
                "material": lot.material_code,
                "material_name": material.name if material else lot.material_code,
                "lot": lot.lot_number,
                "lot_status": lot.status,
                "expires_on": lot.expires_on,
                "potency": lot.potency,
                "container": consumption.container,
                "container_remaining": box.quantity if box else None,
                "quantity": consumption.quantity,
                "unit": consumption.unit,
                "consumed_at": consumption.consumed_at,
                "consumed_by": consumption.consumed_by,
            }
        )
    return rows, sorted({lot.lot_number for _, lot, _ in used})


def _equipment(session: Session, tags: set[str]) -> list[dict[str, Any]]:
    result = []
    for unit, cleanings, calibrations in queries.equipment(session, tags):
        result.append(
            {
                "tag": unit.tag,
                "name": unit.name,
                "kind": unit.kind,
                "status": unit.status,
                "status_changed_at": unit.status_changed_at,
                "last_cleaned_at": unit.last_cleaned_at,
                "calibration_due_at": unit.calibration_due_at,
                "cleanings": [
                    {"at": c.cleaned_at, "by": c.actor, "method": c.method, "expires_at": c.expires_at}
                    for c in cleanings
                ],
                "calibrations": [
                    {"at": c.calibrated_at, "by": c.actor, "passed": c.passed, "due_at": c.due_at,
                     "certificate": c.certificate}
                    for c in calibrations
                ],
            }
        )  # fmt: skip
    return result


def _trends(session: Session, batch: Batch) -> list[dict[str, Any]]:
    return [
        {
            "step": path,
            "tag": tag,
            "points": [{"at": p.at, "min": p.minimum, "mean": p.mean, "max": p.maximum, "last": p.last} for p in pts],
        }
        for (path, tag), pts in queries.trend_points(session, batch).items()
    ]


def _equipment_tags(steps: list[BatchStep], index: dict[str, dict[str, Any]]) -> set[str]:
    tags = {s.unit for s in steps if s.unit}
    for step in steps:
        spec = index.get(step.path, {})
        for key in ("equipment", "scale", "source", "destination"):
            if isinstance(spec.get(key), str):
                tags.add(spec[key])
    return tags


def build_record(session: Session, batch: Batch, printed: Printed) -> dict[str, Any]:
    """The batch record of ``batch`` as it stands in ``session``'s snapshot (JSON-able, canonical-safe)."""
    upto = head(session)[0]
    control = batch.control_recipe
    index = _recipe_index(control)
    batch_yields, balances = yields.of_batch(session, batch)
    steps = queries.steps(session, batch)
    links = queries.record_signatures(session, batch)
    by_subject = _by_subject(links)
    values = queries.entries(session, batch)
    corrected_by = {e.corrects: e.id for rows in values.values() for e in rows if e.corrects}
    step_rows = [
        _step(s, index.get(s.path, {}), values.get(s.id, []), by_subject.get(("batch_step", s.id), []), corrected_by)
        for s in steps
    ]
    devs = [_deviation(d, by_subject.get(("deviation", d.id), [])) for d in queries.deviations(session, batch)]
    corrections = _corrections(steps, values, by_subject)
    materials, lots = _materials(session, batch)
    review = _review(session, batch, links)
    sig_rows = queries.signature_rows(session, [*(link.signature_id for link in links), *review])
    names = queries.full_names(session, _people(batch, steps, values, printed))
    output = queries.output_lot(session, batch)
    subjects = [link.subject_id for link in links if link.subject_type in ("deviation", "step_entry")]
    events = queries.audit_events(
        session, batch, signature_ids=set(sig_rows), subjects=subjects, lots=[*lots, batch.number], upto=upto
    )
    record = {
        "format": FORMAT,
        "batch": _batch(batch, output.lot_number if output else None),
        "recipe": {"name": batch.recipe_name, "version": batch.recipe_version, "title": control.get("title", ""),
                   "control_recipe_hash": batch.control_recipe_hash},
        "product": control.get("product", {"code": batch.product_code, "name": batch.product_code}),
        "printed": {"at": printed.at, "by": printed.by, "by_name": printed.by_name, "timezone": printed.timezone},
        "people": names,
        "steps": step_rows,
        "deviations": devs,
        "corrections": corrections,
        "materials": materials,
        "output_lot": None if output is None else {"lot": output.lot_number, "quantity": output.quantity,
                                                   "unit": output.unit, "status": output.status},
        "yields": [y.as_json() for y in batch_yields],
        "reconciliation": [m.as_json() for m in balances],
        "equipment": _equipment(session, _equipment_tags(steps, index)),
        "trends": _trends(session, batch),
        "review": review,
        "exceptions": _exceptions(session, batch),
        "signatures": {sid: _signature(row, names, printed.timezone) for sid, row in sig_rows.items()},
        "signed_content": {sid: json.loads(row.content) for sid, row in sig_rows.items()},
        "audit_trail": {"to_seq": upto, "events": events, "system_key": _system_key(session)},
    }  # fmt: skip
    result: dict[str, Any] = jsonable(record)
    return result


def _system_key(session: Session) -> str | None:
    """The installation's key fingerprint, printed so an auditor can pin it (``--trusted-key``)."""
    key_id = current_system_key_id(session)
    return None if key_id is None else fingerprint(key_id)


def _exceptions(session: Session, batch: Batch) -> list[dict[str, Any]]:
    """Review by exception: each exception of the batch with QA's disposition (``ebr.execution.review``)."""
    return [
        {
            "kind": item.kind,
            "step": item.step_path,
            "summary": item.summary,
            "detail": item.detail,
            "at": item.at,
            "disposition": None
            if item.disposition is None
            else {"comment": item.disposition.comment, "by": item.disposition.by, "at": item.disposition.at},
        }
        for item in review_items.exceptions(session, batch)
    ]


def _review(session: Session, batch: Batch, links: list[RecordSignature]) -> list[str]:
    """Signatures on the batch as a whole (QA review, release, rejection), linked or signed on the batch."""
    linked = [link.signature_id for link in links if link.subject_type not in RECORD_PARTS]
    return list(dict.fromkeys([*linked, *queries.batch_signatures(session, batch)]))


def _batch(batch: Batch, output_lot: str | None) -> dict[str, Any]:
    return {
        "id": batch.id,
        "number": batch.number,
        "order": batch.production_order,
        "size": batch.size,
        "unit": batch.size_unit,
        "status": batch.status,
        "state": batch.state,
        "created_at": batch.created_at,
        "created_by": batch.created_by,
        "started_at": batch.started_at,
        "ended_at": batch.ended_at,
        "output_lot": output_lot,
    }


def _corrections(
    steps: list[BatchStep], values: dict[str, list[StepEntry]], by_subject: dict[tuple[str, str], list[str]]
) -> list[dict[str, Any]]:
    paths = {s.id: s.path for s in steps}
    originals = {e.id: e for rows in values.values() for e in rows}
    found = []
    for rows in values.values():
        for entry in rows:
            if entry.corrects is None:
                continue
            old = originals.get(entry.corrects)
            found.append(
                {
                    "number": 0,
                    "entry": entry.id,
                    "corrects": entry.corrects,
                    "step": paths.get(entry.step_id),
                    "name": entry.name,
                    "original": old.value if old else None,
                    "corrected": entry.value,
                    "unit": entry.unit,
                    "reason": entry.correction_reason,
                    "by": entry.recorded_by,
                    "at": entry.recorded_at,
                    "signatures": by_subject.get(("step_entry", entry.id), []),
                }
            )
    found.sort(key=lambda c: (c["at"], c["entry"]))
    for number, item in enumerate(found, start=1):
        item["number"] = number
    return found


def _people(batch: Batch, steps: list[BatchStep], values: dict[str, list[StepEntry]], printed: Printed) -> set[str]:
    people = {batch.created_by, printed.by}
    people.update(s.started_by for s in steps if s.started_by)
    people.update(s.ended_by for s in steps if s.ended_by)
    people.update(e.recorded_by for rows in values.values() for e in rows)
    return {p for p in people if p}


def record_bytes(record: dict[str, Any]) -> bytes:
    """The bytes of ``record.json`` (canonical JSON: the same record always gives the same file)."""
    return canon(record)
