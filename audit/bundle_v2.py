"""Offline verification of a format v2 bundle (docs/audit-bundle.md §6), over nothing but the ZIP file.

Every failure is a :class:`audit.bundle_common.Problem` naming the file and the
``seq`` or signature ``id``; verification goes on after a failure so the auditor
sees all of them.
"""

from __future__ import annotations

import itertools
import zipfile
from collections.abc import Callable, Set
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
from audit.checkpoints import TreeHead, tree_head_from
from audit.keys import ed25519_verify
from audit.merkle import leaf_hash, verify_consistency, verify_inclusion
from ebr.core.canonical import ZERO_HASH, canon, sha256_hex
from ebr.core.clock import from_rfc3339
from ebr.core.errors import AuditError, EbrError

FORMAT = "ebr-audit-bundle/2"
EVENTS = "events.jsonl"
PROOFS = "proofs.json"
MANIFEST = "manifest.json"
REQUIRED = (EVENTS, PROOFS, "signatures.jsonl", "keys.json")
MANIFEST_KEYS = frozenset(
    {"format", "kind", "created", "scope", "tree_head", "previous_tree_head", "files", "key_id", "sig"}
)
KINDS = frozenset({"events", "range"})
Progress = Callable[[int], None]


@dataclass
class _Event:
    seq: int
    data: bytes
    event: dict[str, Any]


def _manifest(archive: zipfile.ZipFile, report: BundleReport) -> dict[str, Any] | None:
    try:
        manifest = parse_json(archive.read(MANIFEST))
    except (KeyError, ValueError) as exc:
        report.add(MANIFEST, "", f"missing or unreadable ({exc})")
        return None
    if not isinstance(manifest, dict) or set(manifest) != MANIFEST_KEYS:
        keys = sorted(manifest) if isinstance(manifest, dict) else type(manifest).__name__
        report.add(MANIFEST, "", f"keys are {keys}, expected {sorted(MANIFEST_KEYS)}")
        return None
    if manifest["kind"] not in KINDS or not isinstance(manifest["scope"], dict):
        report.add(MANIFEST, "", f"kind must be one of {sorted(KINDS)} and scope an object")
        return None
    if not isinstance(manifest["files"], dict):
        report.add(MANIFEST, "", "files must map names to SHA-256 hex")
        return None
    report.kind = manifest["kind"]
    return manifest


def _files(archive: zipfile.ZipFile, manifest: dict[str, Any], report: BundleReport) -> dict[str, bytes]:
    """§6.1: every member listed with its hash, nothing more, nothing missing, the required ones there."""
    names = [info.filename for info in archive.infolist()]
    contents = {name: archive.read(name) for name in names if name != MANIFEST}
    if len(set(names)) != len(names):
        report.add(MANIFEST, "", "the ZIP holds two members with one name")
    files: dict[str, Any] = manifest["files"]
    for name in REQUIRED:
        if name not in files:
            report.add(name, "", "a v2 bundle must have this file and manifest.json must list it")
    for name, expected in sorted(files.items()):
        if name not in contents:
            report.add(name, "", "listed in manifest.json but missing from the bundle")
        elif sha256_hex(contents[name]) != expected:
            report.add(name, "", "SHA-256 does not match manifest.json")
    for name in sorted(set(contents) - set(files)):
        report.add(name, "", "in the bundle but not listed in manifest.json: rejected")
    return contents


def _trusted_key(
    system: list[KeyEntry], key_id: Any, ts: Any, what: str, trusted: Set[str] | None, report: BundleReport
) -> KeyEntry | None:
    """The system key that signed ``what`` at ``ts`` when it is in keys.json (and pinned, if pins were given)."""
    found = valid_key(system, str(key_id), str(ts))
    if isinstance(found, str):
        report.add(MANIFEST, what, found)
        return None
    if trusted is not None and found.key_id not in trusted:
        report.add(MANIFEST, what, f"signed by key {found.key_id}, which is not a trusted key (--trusted-key)")
        return None
    report.keys_used.add(found.key_id)
    return found


def _head(
    raw: Any, what: str, system: list[KeyEntry], trusted: Set[str] | None, report: BundleReport
) -> TreeHead | None:
    try:
        head = tree_head_from(raw)
        from_rfc3339(head.ts)
    except (AuditError, ValueError, TypeError) as exc:
        report.add(MANIFEST, what, f"unreadable tree head ({exc})")
        return None
    key = _trusted_key(system, head.key_id, head.ts, what, trusted, report)
    if key is None:
        return None
    if not head.verifies(key.public_raw):
        report.add(MANIFEST, what, "signature does not verify under the system key")
        return None
    return head


def _check_manifest_signature(
    manifest: dict[str, Any], system: list[KeyEntry], trusted: Set[str] | None, report: BundleReport
) -> None:
    key = _trusted_key(system, manifest["key_id"], manifest["created"], "signature", trusted, report)
    if key is None:
        return
    unsigned = {k: v for k, v in manifest.items() if k != "sig"}
    try:
        good = ed25519_verify(key.public_raw, canon(unsigned), str(manifest["sig"]))
    except EbrError as exc:
        report.add(MANIFEST, "signature", f"cannot be canonicalized ({exc})")
        return
    if not good:
        report.add(MANIFEST, "signature", "does not verify: the manifest (scope, files, tree head) was changed")


def _events(data: bytes, report: BundleReport) -> list[_Event]:
    """Every line is one event's canonical bytes, in increasing seq order; no redacted lines exist in v2."""
    found: list[_Event] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw:
            continue
        try:
            event = parse_json(raw)
            seq = event["seq"]
        except (ValueError, KeyError, TypeError) as exc:
            report.add(EVENTS, f"line {number}", f"not an event ({exc})")
            continue
        where = f"seq {seq}" if type(seq) is int else f"line {number}"
        if event.get("redacted") is not None or "hash" in event:
            report.add(EVENTS, where, "a redacted or hash line: v2 bundles carry whole events only")
            continue
        if set(event) != EVENT_KEYS or type(seq) is not int:
            report.add(EVENTS, where, f"event keys are {sorted(event)}, expected {sorted(EVENT_KEYS)}")
            continue
        try:
            if canon(event) != raw:
                report.add(EVENTS, where, "the line is not the event's canonical bytes")
                continue
        except EbrError as exc:
            report.add(EVENTS, where, f"content cannot be canonicalized: {exc}")
            continue
        if found and seq <= found[-1].seq:
            report.add(EVENTS, where, f"seq does not increase after {found[-1].seq}")
            continue
        found.append(_Event(seq, raw, event))
    if not found:
        report.add(EVENTS, "", "holds no events")
    else:
        report.first_seq, report.last_seq, report.events = found[0].seq, found[-1].seq, len(found)
    return found


def _proof(raw: Any) -> list[bytes]:
    if not isinstance(raw, list):
        raise ValueError("a proof is a list of hex hashes")
    return [bytes.fromhex(item) for item in raw]


def _check_inclusion(event: _Event, head: TreeHead, proofs: dict[str, Any], report: BundleReport) -> None:
    where = f"seq {event.seq}"
    try:
        path = _proof(proofs.get(str(event.seq)))
        root = bytes.fromhex(head.root_hash)
    except (ValueError, TypeError) as exc:
        report.add(PROOFS, where, f"no readable inclusion proof ({exc})")
        return
    if not verify_inclusion(leaf_hash(event.data), event.seq - 1, head.tree_size, path, root):
        detail = f"the event is not in tree head {head.tree_size}: its inclusion proof does not lead to the root"
        report.add(EVENTS, where, detail)


def _check_scope(events: list[_Event], manifest: dict[str, Any], report: BundleReport) -> None:
    scope = manifest["scope"]
    wanted = scope.get("entity")
    for item in events:
        if wanted is not None and item.event["entity"] != wanted:
            report.add(EVENTS, f"seq {item.seq}", f"is about {item.event['entity']}, not the scope's {wanted}")
    if manifest["kind"] != "range" or not events:
        return
    if (scope.get("from_seq"), scope.get("to_seq")) != (events[0].seq, events[-1].seq):
        detail = (
            f"runs {events[0].seq}..{events[-1].seq}, the scope says {scope.get('from_seq')}..{scope.get('to_seq')}"
        )
        report.add(EVENTS, "", detail)
    for before, item in itertools.pairwise(events):
        if item.seq != before.seq + 1:
            report.add(EVENTS, f"seq {item.seq}", f"does not follow {before.seq}: a range bundle has every event")
        elif item.event["prev"] != sha256_hex(before.data):
            report.add(EVENTS, f"seq {item.seq}", f"prev does not equal the hash of seq {before.seq}")
    if events[0].seq == 1 and events[0].event["prev"] != ZERO_HASH:
        report.add(EVENTS, "seq 1", "prev of the first event must be 64 zeros")


def _check_proofs(
    events: list[_Event],
    manifest: dict[str, Any],
    contents: dict[str, bytes],
    heads: tuple[TreeHead | None, TreeHead | None],
    report: BundleReport,
) -> None:
    head, previous = heads
    try:
        proofs = parse_json(contents.get(PROOFS, b"{}"))
        inclusion = proofs["inclusion"]
        assert isinstance(inclusion, dict)
    except (ValueError, KeyError, TypeError, AssertionError) as exc:
        report.add(PROOFS, "", f"unreadable ({exc})")
        return
    if head is None:
        return
    report.tree_size, report.root_hash = head.tree_size, head.root_hash
    for item in events:
        if item.seq > head.tree_size:
            report.add(EVENTS, f"seq {item.seq}", f"is beyond the tree head's {head.tree_size} events")
    proved = events if manifest["kind"] == "events" else events[-1:]
    for item in proved:
        if item.seq <= head.tree_size:
            _check_inclusion(item, head, inclusion, report)
    last = events[-1] if events else None
    if manifest["kind"] == "range" and last and head.tree_size == last.seq and sha256_hex(last.data) != head.head_hash:
        report.add(EVENTS, f"seq {events[-1].seq}", "is not the head event the tree head signed")
    if previous is not None:
        _check_consistency(previous, head, proofs.get("consistency"), report)


def _check_consistency(previous: TreeHead, head: TreeHead, raw: Any, report: BundleReport) -> None:
    report.previous_tree_size = previous.tree_size
    where = f"tree head {previous.tree_size} → {head.tree_size}"
    try:
        path = _proof(raw)
        good = verify_consistency(
            previous.tree_size,
            head.tree_size,
            bytes.fromhex(previous.root_hash),
            bytes.fromhex(head.root_hash),
            path,
        )
    except (ValueError, TypeError) as exc:
        report.add(PROOFS, where, f"no readable consistency proof ({exc})")
        return
    if not good:
        report.add(PROOFS, where, "the consistency proof fails: the newer tree does not extend the previous one")


def _applied(events: list[_Event], records: bytes, report: BundleReport) -> dict[str, Any]:
    """signature id → its event's ``after``; a ``signature.applied`` event without a record fails."""
    applied: dict[str, Any] = {}
    for item in events:
        after = item.event.get("after")
        if item.event.get("action") == "signature.applied" and isinstance(after, dict):
            applied[str(after.get("id"))] = after
    ids = set()
    for raw in records.splitlines():
        try:
            ids.add(str(parse_json(raw)["id"]))
        except (ValueError, KeyError, TypeError):
            continue
    for item in events:
        after = item.event.get("after")
        if (
            item.event.get("action") == "signature.applied"
            and isinstance(after, dict)
            and str(after.get("id")) not in ids
        ):
            detail = f"its signature {after.get('id')} has no record in signatures.jsonl (it cannot be checked)"
            report.add(EVENTS, f"seq {item.seq}", detail)
    return applied


def verify_v2(
    archive: zipfile.ZipFile, report: BundleReport, *, trusted: Set[str] | None, progress: Progress | None = None
) -> None:
    """Verify an open v2 bundle into ``report`` (docs/audit-bundle.md §6)."""
    report.version, report.pinned = 2, trusted is not None
    manifest = _manifest(archive, report)
    if manifest is None:
        return
    if manifest["format"] != FORMAT:
        report.add(MANIFEST, "", f"format is {manifest['format']!r}, expected {FORMAT!r}")
    contents = _files(archive, manifest, report)
    system, users = load_keys(contents, report)
    _check_manifest_signature(manifest, system, trusted, report)
    head = _head(manifest["tree_head"], "tree_head", system, trusted, report)
    previous = None
    if manifest["previous_tree_head"] is not None:
        previous = _head(manifest["previous_tree_head"], "previous_tree_head", system, trusted, report)
    events = _events(contents.get(EVENTS, b""), report)
    if progress is not None:
        progress(len(events))
    _check_scope(events, manifest, report)
    _check_proofs(events, manifest, contents, (head, previous), report)
    applied = _applied(events, contents.get("signatures.jsonl", b""), report)
    records = check_signatures(contents, applied, users, report, events_file=EVENTS)
    check_record(contents, manifest["scope"], records, report)
