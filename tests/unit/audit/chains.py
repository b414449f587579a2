"""Chains and bundles built in memory, for tests of the pure verification code."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from typing import Any

from audit.chain import Entity, build_event, event_bytes, event_hash
from audit.checkpoints import sign_checkpoint
from audit.keys import SystemKey, b64encode
from ebr.core.canonical import ZERO_HASH, canon, sha256_hex
from ebr.core.clock import UTC

T0 = dt.datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def chain(n: int, after: Any = None, reason: str | None = None) -> list[tuple[int, str, str, bytes]]:
    """``n`` rows ``(seq, prev, hash, canonical)`` as the database stores them."""
    rows, prev = [], ZERO_HASH
    for seq in range(1, n + 1):
        event = build_event(
            seq=seq,
            ts=T0 + dt.timedelta(seconds=seq),
            actor="alice",
            action="batch.step.done",
            entity=Entity("batch", "B-1" if seq % 2 else "B-2"),
            reason=reason,
            before=None,
            after=after if after is not None else {"value": f"{seq}.0"},
            prev=prev,
        )
        data = event_bytes(event)
        rows.append((seq, prev, event_hash(data), data))
        prev = event_hash(data)
    return rows


def key_entry(key: SystemKey, valid_from: str = "2026-01-01T00:00:00.000000Z") -> dict[str, Any]:
    return {"key_id": key.key_id, "public_key": b64encode(key.public_raw), "valid_from": valid_from, "valid_to": None}


def bundle(files: dict[str, bytes], scope: dict[str, Any] | None = None) -> io.BytesIO:
    """A ZIP with a correct manifest over ``files``."""
    manifest = {
        "format": "ebr-audit-bundle/1",
        "created": "2026-11-24T10:01:00.000000Z",
        "scope": scope or {},
        "files": {name: sha256_hex(data) for name, data in files.items()},
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("manifest.json", canon(manifest))
        for name, data in files.items():
            archive.writestr(name, data)
    buffer.seek(0)
    return buffer


def bundle_files(key: SystemKey, n: int = 4) -> dict[str, bytes]:
    """audit.jsonl, checkpoints.jsonl, keys.json and an empty signatures.jsonl for a chain of ``n``."""
    rows = chain(n)
    lines = [canon({**json.loads(data), "hash": hash_}) for _, _, hash_, data in rows]
    checkpoint = sign_checkpoint(key, seq=n, hash=rows[-1][2], ts="2026-11-24T10:00:59.000000Z")
    return {
        "audit.jsonl": b"".join(line + b"\n" for line in lines),
        "checkpoints.jsonl": checkpoint.line() + b"\n",
        "signatures.jsonl": b"",
        "keys.json": canon({"system": [key_entry(key)], "users": {}}),
    }
