"""Offline verification of a format v1 bundle (../shared/spec/audit-bundle.md §6), kept so old exports stay readable.

v1's redacted lines leave the shown events next to them unlinked (the flaw that v2
fixes), so a v1 result is always labelled v1.


Pure Python (zipfile, json, hashlib, Ed25519); no database, no configuration. Every
failure is reported as a :class:`Problem` naming the file and the ``seq`` or
signature ``id`` where it was found; verification goes on after a failure so the
auditor sees all of them.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from audit.bundle_common import (
    BundleReport,
    KeyEntry,
    check_record,
    check_signatures,
    load_keys,
    parse_json,
    valid_key,
)
from audit.chain import EVENT_KEYS
from audit.checkpoints import Checkpoint
from ebr.core.canonical import canon, sha256_hex
from ebr.core.errors import EbrError

FORMAT = "ebr-audit-bundle/1"
REDACTED_KEYS = frozenset({"seq", "hash", "redacted"})
Progress = Callable[[int], None]


@dataclass
class _Line:
    seq: int
    hash: str
    event: dict[str, Any] | None  # None for a redacted line


def _check_manifest(archive: zipfile.ZipFile, report: BundleReport) -> dict[str, bytes]:
    """§6.1; returns the contents of every member except the manifest."""
    names = [info.filename for info in archive.infolist()]
    contents = {name: archive.read(name) for name in names if name != "manifest.json"}
    if "manifest.json" not in names:
        report.add("manifest.json", "", "missing from the bundle")
        return contents
    try:
        manifest = parse_json(archive.read("manifest.json"))
        files = manifest["files"]
        if manifest.get("format") != FORMAT:
            report.add("manifest.json", "", f"format is {manifest.get('format')!r}, expected {FORMAT!r}")
    except (ValueError, KeyError, TypeError) as exc:
        report.add("manifest.json", "", f"unreadable ({exc})")
        return contents
    for name, expected in sorted(files.items()):
        if name not in contents:
            report.add(name, "", "listed in manifest.json but missing from the bundle")
        elif sha256_hex(contents[name]) != expected:
            report.add(name, "", "SHA-256 does not match manifest.json")
    for name in sorted(set(contents) - set(files)):
        report.add(name, "", "in the bundle but not listed in manifest.json")
    if not isinstance(manifest.get("scope"), dict):
        report.add("manifest.json", "", "scope must be an object")
    return contents


def _parse_line(raw: bytes, number: int, report: BundleReport) -> _Line | None:
    where = f"line {number}"
    try:
        obj = parse_json(raw)
        seq, hash_ = obj["seq"], obj["hash"]
    except (ValueError, KeyError, TypeError) as exc:
        report.add("audit.jsonl", where, f"not an event line ({exc})")
        return None
    where = f"seq {seq}"
    if type(seq) is not int or not isinstance(hash_, str):
        report.add("audit.jsonl", where, "seq must be an integer and hash a string")
        return None
    if obj.get("redacted") is True:
        if set(obj) != REDACTED_KEYS:
            report.add("audit.jsonl", where, "a redacted line has exactly the keys seq, hash, redacted")
        report.redacted += 1
        return _Line(seq, hash_, None)
    event = {k: v for k, v in obj.items() if k != "hash"}
    if set(event) != EVENT_KEYS:
        report.add("audit.jsonl", where, f"event keys are {sorted(event)}, expected {sorted(EVENT_KEYS)}")
    try:
        if sha256_hex(canon(event)) != hash_:
            report.add("audit.jsonl", where, "hash does not match content")
    except EbrError as exc:
        report.add("audit.jsonl", where, f"content cannot be canonicalized: {exc}")
    report.events += 1
    return _Line(seq, hash_, event)


def _check_chain(data: bytes, report: BundleReport, progress: Progress | None) -> list[_Line]:
    """§6.2 and §6.3."""
    lines: list[_Line] = []
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        line = _parse_line(raw, number, report)
        if line is None:
            continue
        if lines:
            before = lines[-1]
            if line.seq != before.seq + 1:
                report.add("audit.jsonl", f"seq {line.seq}", f"seq does not follow {before.seq} (gap or disorder)")
            if line.event is not None and line.event.get("prev") != before.hash:
                report.add("audit.jsonl", f"seq {line.seq}", f"prev does not equal the hash of seq {before.seq}")
        elif line.event is not None and line.seq == 1 and line.event.get("prev") != "0" * 64:
            report.add("audit.jsonl", "seq 1", "prev of the first event must be 64 zeros")
        lines.append(line)
        if progress is not None and number % 10_000 == 0:
            progress(10_000)
    if not lines:
        report.add("audit.jsonl", "", "holds no events")
    else:
        report.first_seq, report.last_seq = lines[0].seq, lines[-1].seq
    return lines


def _check_checkpoints(
    contents: dict[str, bytes], lines: list[_Line], system: list[KeyEntry], report: BundleReport
) -> None:
    """§6.4."""
    by_seq = {line.seq: line.hash for line in lines}
    covered = False
    for raw in contents.get("checkpoints.jsonl", b"").splitlines():
        if not raw.strip():
            continue
        try:
            obj = parse_json(raw)
            checkpoint = Checkpoint(**{k: obj[k] for k in ("seq", "hash", "ts", "key_id", "sig")})
        except (ValueError, KeyError, TypeError) as exc:
            report.add("checkpoints.jsonl", "", f"unreadable checkpoint ({exc})")
            continue
        report.checkpoints += 1
        where = f"seq {checkpoint.seq}"
        key = valid_key(system, checkpoint.key_id, checkpoint.ts)
        if isinstance(key, str):
            report.add("checkpoints.jsonl", where, key)
        elif not checkpoint.verifies(key.public_raw):
            report.add("checkpoints.jsonl", where, "signature does not verify under the system key")
        elif checkpoint.seq in by_seq and by_seq[checkpoint.seq] != checkpoint.hash:
            report.add("checkpoints.jsonl", where, "the signed hash differs from audit.jsonl's line")
        elif lines and checkpoint.seq == lines[-1].seq:
            covered = True
        if not isinstance(key, str):
            report.keys_used.add(key.key_id)
    if lines and not covered:
        last = lines[-1].seq
        report.add("audit.jsonl", f"seq {last}", "no valid checkpoint covers the last event")


def _applied_events(lines: list[_Line]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for line in lines:
        event = line.event
        if event and event.get("action") == "signature.applied" and isinstance(event.get("after"), dict):
            found[str(event["after"].get("id"))] = event["after"]
    return found


def verify_v1(archive: zipfile.ZipFile, report: BundleReport, progress: Progress | None = None) -> None:
    """Verify an open v1 bundle per the v1 spec §6 into ``report``."""
    report.version = 1
    contents = _check_manifest(archive, report)
    try:
        scope = parse_json(archive.read("manifest.json")).get("scope") or {}
    except (KeyError, ValueError, AttributeError):
        scope = {}
    if "audit.jsonl" not in contents:
        report.add("audit.jsonl", "", "missing from the bundle")
    lines = _check_chain(contents.get("audit.jsonl", b""), report, progress)
    system, users = load_keys(contents, report)
    _check_checkpoints(contents, lines, system, report)
    records = check_signatures(contents, _applied_events(lines), users, report)
    check_record(contents, scope if isinstance(scope, dict) else {}, records, report)
