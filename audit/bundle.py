"""Writing the auditor's export bundle, format v2 (docs/audit-bundle.md §5).

The audit package knows only its own tables, so whatever belongs to higher layers is
passed in by the caller (``ebr/trail/services.py`` for ``ebr audit export``, the batch
record export for a batch scope): the signature records in scope, the users' public
keys, and extra files such as ``record.json`` and ``record.pdf``. The exporter adds
the events, their Merkle proofs to a signed tree head, the system keys and the
manifest, which it signs with the system key.

Two kinds: ``events`` (only the events in scope, each with an inclusion proof; no
redacted lines) and ``range`` (every event from..to, chained, the last with an
inclusion proof, and a consistency proof from the previous tree head).
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

from audit.chain import Entity
from audit.checkpoints import Checkpointer, TreeHead, parse_checkpoint
from audit.keys import SystemKey, system_keys_json
from audit.merkle import consistency_proof, inclusion_proof, leaf_hash, verify_inclusion
from audit.models import AuditCheckpoint, AuditEvent
from audit.streams import stream_rows
from audit.trail import head
from audit.tree_store import DbSubtrees
from ebr.core.canonical import canon, sha256_hex
from ebr.core.clock import Clock, to_rfc3339
from ebr.core.errors import AuditError

FORMAT = "ebr-audit-bundle/2"
EVENTS_FILE = "events.jsonl"
PROOFS_FILE = "proofs.json"
InScope = Callable[[dict[str, Any]], bool]
Progress = Callable[[int], None]


@dataclass(frozen=True)
class ExportResult:
    """What was written (``redacted`` is always 0 in format v2: there are no redacted lines)."""

    path: Path
    first_seq: int
    last_seq: int
    events: int
    redacted: int
    signatures: int
    checkpoint_seq: int
    files: dict[str, str] = field(default_factory=dict)
    kind: str = "events"
    key_id: str = ""


def entity_filter(entity_type: str, entity_id: str) -> InScope:
    """Scope filter: events about one entity."""
    wanted = {"type": entity_type, "id": entity_id}
    return lambda event: event.get("entity") == wanted


def _checked(seq: int, hash_: str, data: Any) -> bytes:
    if not isinstance(data, bytes) or hashlib.sha256(data).hexdigest() != hash_:
        raise AuditError(f"event {seq} does not match its hash; run `ebr audit verify` before exporting")
    return data


def _collect_range(
    session: Session, lo: int, hi: int, in_scope: InScope | None, progress: Progress | None
) -> list[tuple[int, bytes]]:
    """``(seq, bytes)`` of the events ``lo..hi`` in scope (all of them when ``in_scope`` is None)."""
    out: list[tuple[int, bytes]] = []
    batches = stream_rows(session, start=lo)
    try:
        for rows in batches:
            for seq, hash_, data in rows:
                if seq > hi:
                    break
                data = _checked(seq, hash_, data)
                if in_scope is None or in_scope(json.loads(data)):
                    out.append((seq, data))
            if progress is not None:
                progress(len(rows))
            if rows and rows[-1][0] >= hi:
                break
    finally:
        batches.close()
    return out


def _collect_entity(session: Session, entity: Entity, lo: int, hi: int) -> list[tuple[int, bytes]]:
    """One entity's events through the entity index (a few hundred out of millions)."""
    rows = session.execute(
        select(AuditEvent.seq, AuditEvent.hash, AuditEvent.canonical)
        .where(AuditEvent.entity_type == entity.type, AuditEvent.entity_id == entity.id)
        .where(AuditEvent.seq.between(lo, hi))
        .order_by(AuditEvent.seq)
    ).all()
    wanted = entity.as_json()
    out = []
    for seq, hash_, data in rows:
        data = _checked(seq, hash_, data)
        if json.loads(data).get("entity") != wanted:
            raise AuditError(f"event {seq}'s entity column differs from its bytes; run `ebr audit verify --deep`")
        out.append((seq, data))
    return out


def _tree_head(session: Session, last: int, checkpointer: Checkpointer | None) -> TreeHead:
    """The newest signed tree head, signing one now when none covers event ``last``."""
    row = session.scalars(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.root_hash.is_not(None))
        .order_by(AuditCheckpoint.seq.desc(), AuditCheckpoint.id.desc())
        .limit(1)
    ).first()
    if row is not None and row.seq >= last:
        found = parse_checkpoint(bytes(row.line))
        assert isinstance(found, TreeHead)
        return found
    if checkpointer is None:
        raise AuditError(f"no tree head covers event {last}; run `ebr audit checkpoint` and export again")
    return checkpointer.checkpoint(session)


def _previous_head(session: Session, before: int) -> TreeHead | None:
    """The newest tree head over fewer than ``before`` events (what an auditor may hold already)."""
    row = session.scalars(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.root_hash.is_not(None), AuditCheckpoint.seq < before)
        .order_by(AuditCheckpoint.seq.desc(), AuditCheckpoint.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    found = parse_checkpoint(bytes(row.line))
    return found if isinstance(found, TreeHead) else None


def _hexes(hashes: Sequence[bytes]) -> list[str]:
    return [digest.hex() for digest in hashes]


def _inclusions(
    session: Session, events: Sequence[tuple[int, bytes]], tree: TreeHead
) -> tuple[DbSubtrees, dict[str, list[str]]]:
    source = DbSubtrees(session)
    root = bytes.fromhex(tree.root_hash)
    paths = source.prepared(lambda src: [inclusion_proof(src, seq - 1, tree.tree_size) for seq, _ in events])
    proofs: dict[str, list[str]] = {}
    for (seq, data), path in zip(events, paths, strict=True):
        if not verify_inclusion(leaf_hash(data), seq - 1, tree.tree_size, path, root):
            raise AuditError(f"event {seq} is not in tree head {tree.tree_size}'s tree; run `ebr audit verify`")
        proofs[str(seq)] = _hexes(path)
    return source, proofs


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


def signed_manifest(key: SystemKey, unsigned: Mapping[str, Any]) -> bytes:
    """``canon(manifest)`` with ``key_id`` and ``sig`` over ``canon(manifest without sig)``."""
    body = {**unsigned, "key_id": key.key_id}
    return canon({**body, "sig": key.sign(canon(body))})


def export_bundle(
    session: Session,
    *,
    out_path: Path,
    scope: Mapping[str, Any],
    clock: Clock,
    from_seq: int = 1,
    to_seq: int | None = None,
    in_scope: InScope | None = None,
    entity: Entity | None = None,
    signatures: Sequence[Mapping[str, Any]] = (),
    user_keys: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    extra_files: Mapping[str, bytes] | None = None,
    checkpointer: Checkpointer | None = None,
    progress: Progress | None = None,
) -> ExportResult:
    """Write a v2 bundle of events ``from_seq..to_seq`` (default: to the head) to ``out_path``.

    With ``entity`` (read through the entity index) or ``in_scope`` only those events are
    written, each with an inclusion proof (kind ``events``); with neither, every event
    of the range (kind ``range``). ``signatures`` are §4 records, ``user_keys`` maps
    user id to ``keys.json`` entries, ``extra_files`` adds e.g. ``record.json``.
    The manifest is signed with the system key of ``checkpointer``, which also signs a
    tree head in this transaction when none covers the last event (the caller commits).
    Raises AuditError when the range is empty, the key is missing or the trail does not
    match its tree head.
    """
    key = checkpointer.key() if checkpointer is not None else None
    if key is None:
        raise AuditError("a bundle is signed with the system key; run `ebr init` (or restore the keys directory)")
    head_seq, _ = head(session)
    hi = head_seq if to_seq is None else to_seq
    if from_seq < 1 or hi < from_seq or hi > head_seq:
        raise AuditError(f"cannot export events {from_seq}..{hi}: the trail holds events 1..{head_seq}")
    kind = "range" if entity is None and in_scope is None else "events"
    if entity is not None:
        events = _collect_entity(session, entity, from_seq, hi)
    else:
        events = _collect_range(session, from_seq, hi, in_scope, progress)
    if not events:
        raise AuditError(f"no event in {from_seq}..{hi} is in the requested scope; nothing to export")
    tree = _tree_head(session, events[-1][0], checkpointer)
    source, inclusion = _inclusions(session, events if kind == "events" else events[-1:], tree)
    previous = _previous_head(session, from_seq) if kind == "range" else None
    proofs: dict[str, Any] = {"inclusion": inclusion}
    if previous is not None:
        size = previous.tree_size
        proofs["consistency"] = _hexes(source.prepared(lambda src: consistency_proof(src, size, tree.tree_size)))
    files: dict[str, bytes] = {
        EVENTS_FILE: _jsonl([data for _, data in events]),
        PROOFS_FILE: canon(proofs),
        "signatures.jsonl": _jsonl([canon(dict(record)) for record in signatures]),
        "keys.json": canon({"system": system_keys_json(session), "users": _user_keys(user_keys)}),
        **(extra_files or {}),
    }
    digests = {name: sha256_hex(data) for name, data in files.items()}
    manifest = signed_manifest(
        key,
        {
            "format": FORMAT,
            "kind": kind,
            "created": to_rfc3339(clock.now()),
            "scope": dict(scope),
            "tree_head": tree.as_json(),
            "previous_tree_head": previous.as_json() if previous is not None else None,
            "files": digests,
        },
    )
    _write_zip(out_path, files, manifest)
    return ExportResult(
        path=out_path,
        first_seq=events[0][0],
        last_seq=events[-1][0],
        events=len(events),
        redacted=0,
        signatures=len(signatures),
        checkpoint_seq=tree.tree_size,
        files=digests,
        kind=kind,
        key_id=key.key_id,
    )


def _user_keys(user_keys: Mapping[str, Sequence[Mapping[str, Any]]] | None) -> dict[str, list[dict[str, Any]]]:
    return {user: [dict(entry) for entry in entries] for user, entries in (user_keys or {}).items()}
