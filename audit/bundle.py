"""Writing the auditor's export bundle (spec §5).

The audit package knows only its own tables, so whatever belongs to higher layers is
passed in by the caller (``ebr/audit_export.py`` for ``ebr audit export``, the batch
record export for a batch scope): the signature records in scope, the users' public
keys, and extra files such as ``record.json`` and ``record.pdf``. The exporter adds
the chain lines (redacting out-of-scope events), the checkpoints, the system keys and
the manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.checkpoints import Checkpointer
from audit.keys import system_keys_json
from audit.models import AuditCheckpoint
from audit.streams import stream_rows
from audit.trail import head
from ebr.canonical import canon, sha256_hex
from ebr.clock import Clock, to_rfc3339
from ebr.errors import AuditError

FORMAT = "ebr-audit-bundle/1"
InScope = Callable[[dict[str, Any]], bool]
Progress = Callable[[int], None]


@dataclass(frozen=True)
class ExportResult:
    """What was written."""

    path: Path
    first_seq: int
    last_seq: int
    events: int
    redacted: int
    signatures: int
    checkpoint_seq: int
    files: dict[str, str] = field(default_factory=dict)


def entity_filter(entity_type: str, entity_id: str) -> InScope:
    """Scope filter: events about one entity."""
    wanted = {"type": entity_type, "id": entity_id}
    return lambda event: event.get("entity") == wanted


def redacted_line(seq: int, hash_: str) -> bytes:
    return canon({"seq": seq, "hash": hash_, "redacted": True})


@dataclass
class _Lines:
    lines: list[bytes] = field(default_factory=list)
    first: int | None = None
    last: int = 0
    events: int = 0
    pending: list[bytes] = field(default_factory=list)  # redacted lines after the last event in scope


def _collect(session: Session, lo: int, hi: int, in_scope: InScope | None, progress: Progress | None) -> _Lines:
    """Lines for events ``lo..hi``: in-scope events whole, others redacted, trimmed to the scope."""
    out = _Lines()
    with_batches = stream_rows(session, start=lo)
    try:
        for rows in with_batches:
            for seq, hash_, data in rows:
                if seq > hi:
                    break
                if hashlib.sha256(data).hexdigest() != hash_:
                    raise AuditError(f"event {seq} does not match its hash; run `ebr audit verify` before exporting")
                event = json.loads(data)
                if in_scope is None or in_scope(event):
                    out.lines.extend(out.pending)
                    out.pending.clear()
                    out.lines.append(canon({**event, "hash": hash_}))
                    out.first = seq if out.first is None else out.first
                    out.last, out.events = seq, out.events + 1
                elif out.first is not None:
                    out.pending.append(redacted_line(seq, hash_))
            if progress is not None:
                progress(len(rows))
            if rows and rows[-1][0] >= hi:
                break
    finally:
        with_batches.close()
    return out


def _covering_checkpoint(session: Session, last: int, checkpointer: Checkpointer | None) -> AuditCheckpoint:
    row = session.scalars(
        select(AuditCheckpoint).where(AuditCheckpoint.seq >= last).order_by(AuditCheckpoint.seq, AuditCheckpoint.id)
    ).first()
    if row is not None:
        return row
    if checkpointer is None:
        raise AuditError(f"no checkpoint covers event {last}; run `ebr audit checkpoint` and export again")
    checkpointer.checkpoint(session)
    found = session.scalars(select(AuditCheckpoint).where(AuditCheckpoint.seq >= last)).first()
    assert found is not None
    return found


def _redacted_tail(session: Session, after: int, upto: int) -> list[bytes]:
    lines: list[bytes] = []
    batches = stream_rows(session, columns="seq, hash", start=after + 1)
    try:
        for rows in batches:
            lines.extend(redacted_line(seq, hash_) for seq, hash_ in rows if seq <= upto)
            if rows and rows[-1][0] >= upto:
                break
    finally:
        batches.close()
    return lines


def _user_keys(user_keys: Mapping[str, Sequence[Mapping[str, Any]]] | None) -> dict[str, list[dict[str, Any]]]:
    return {user: [dict(entry) for entry in entries] for user, entries in (user_keys or {}).items()}


def _jsonl(lines: Sequence[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in lines)


def _write_zip(out_path: Path, files: Mapping[str, bytes], manifest: bytes) -> None:
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(out_path.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", manifest)
        for name, data in files.items():
            archive.writestr(name, data)
    os.replace(partial, out_path)


def export_bundle(
    session: Session,
    *,
    out_path: Path,
    scope: Mapping[str, Any],
    clock: Clock,
    from_seq: int = 1,
    to_seq: int | None = None,
    in_scope: InScope | None = None,
    signatures: Sequence[Mapping[str, Any]] = (),
    user_keys: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    extra_files: Mapping[str, bytes] | None = None,
    checkpointer: Checkpointer | None = None,
    progress: Progress | None = None,
) -> ExportResult:
    """Write a bundle of events ``from_seq..to_seq`` (default: to the head) to ``out_path``.

    ``in_scope(event)`` decides which events are shown whole; the others in range are
    redacted. ``signatures`` are spec §4 records, ``user_keys`` maps user id to
    ``keys.json`` entries, ``extra_files`` adds e.g. ``record.json``/``record.pdf``.
    When no stored checkpoint covers the last event, ``checkpointer`` makes one in this
    transaction (the caller commits). Raises AuditError when the range is empty or
    the chain is broken inside it.
    """
    head_seq, _ = head(session)
    hi = head_seq if to_seq is None else to_seq
    if from_seq < 1 or hi < from_seq or hi > head_seq:
        raise AuditError(f"cannot export events {from_seq}..{hi}: the trail holds events 1..{head_seq}")
    collected = _collect(session, from_seq, hi, in_scope, progress)
    if collected.first is None:
        raise AuditError(f"no event in {from_seq}..{hi} is in the requested scope; nothing to export")
    covering = _covering_checkpoint(session, collected.last, checkpointer)
    lines = collected.lines + _redacted_tail(session, collected.last, covering.seq)
    checkpoints = session.scalars(
        select(AuditCheckpoint.line)
        .where(AuditCheckpoint.seq.between(collected.first, covering.seq))
        .order_by(AuditCheckpoint.seq, AuditCheckpoint.id)
    ).all()
    files: dict[str, bytes] = {
        "audit.jsonl": _jsonl(lines),
        "checkpoints.jsonl": _jsonl([bytes(line) for line in checkpoints]),
        "signatures.jsonl": _jsonl([canon(dict(record)) for record in signatures]),
        "keys.json": canon({"system": system_keys_json(session), "users": _user_keys(user_keys)}),
        **(extra_files or {}),
    }
    digests = {name: sha256_hex(data) for name, data in files.items()}
    manifest = canon({"format": FORMAT, "created": to_rfc3339(clock.now()), "scope": dict(scope), "files": digests})
    _write_zip(out_path, files, manifest)
    return ExportResult(
        path=out_path,
        first_seq=collected.first,
        last_seq=covering.seq,
        events=collected.events,
        redacted=len(lines) - collected.events,
        signatures=len(signatures),
        checkpoint_seq=covering.seq,
        files=digests,
    )
