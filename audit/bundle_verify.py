"""Offline verification of an export bundle: spec §6, over nothing but the ZIP file.

Pure Python (zipfile, json, hashlib, Ed25519); no database, no configuration. Every
failure is reported as a :class:`Problem` naming the file and the ``seq`` or
signature ``id`` where it was found; verification goes on after a failure so the
auditor sees all of them.
"""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from audit.chain import EVENT_KEYS
from audit.checkpoints import Checkpoint
from audit.keys import b64decode, ed25519_verify
from ebr.canonical import canon, sha256_hex
from ebr.clock import from_rfc3339
from ebr.errors import EbrError

FORMAT = "ebr-audit-bundle/1"
REDACTED_KEYS = frozenset({"seq", "hash", "redacted"})
SIGNATURE_KEYS = frozenset(
    {"id", "signer", "printed_name", "meaning", "ts", "subject", "content_hash", "reason", "key_id", "sig"}
)
MEANINGS = frozenset({"performed", "verified", "witnessed", "reviewed", "approved", "released", "rejected", "authored"})
Progress = Callable[[int], None]


@dataclass(frozen=True)
class Problem:
    """One failed check: the file, where in it (``seq 3``, ``signature sig-1``), and what."""

    file: str
    where: str
    message: str

    def describe(self) -> str:
        return f"{self.file} {self.where}: {self.message}" if self.where else f"{self.file}: {self.message}"


@dataclass
class BundleReport:
    problems: list[Problem] = field(default_factory=list)
    events: int = 0
    redacted: int = 0
    signatures: int = 0
    checkpoints: int = 0
    first_seq: int | None = None
    last_seq: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, file: str, where: str, message: str) -> None:
        self.problems.append(Problem(file, where, message))


@dataclass(frozen=True)
class KeyEntry:
    key_id: str
    public_raw: bytes
    valid_from: dt.datetime
    valid_to: dt.datetime | None

    def valid_at(self, moment: dt.datetime) -> bool:
        return self.valid_from <= moment and (self.valid_to is None or moment < self.valid_to)


@dataclass
class _Line:
    seq: int
    hash: str
    event: dict[str, Any] | None  # None for a redacted line


def _json(data: bytes) -> Any:
    """Parse JSON; floats are kept as floats so that canon() refuses them later."""
    return json.loads(data.decode("utf-8"))


def _check_manifest(archive: zipfile.ZipFile, report: BundleReport) -> dict[str, bytes]:
    """§6.1; returns the contents of every member except the manifest."""
    names = [info.filename for info in archive.infolist()]
    contents = {name: archive.read(name) for name in names if name != "manifest.json"}
    if "manifest.json" not in names:
        report.add("manifest.json", "", "missing from the bundle")
        return contents
    try:
        manifest = _json(archive.read("manifest.json"))
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
        obj = _json(raw)
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


def _key_entries(raw: Any, file: str, owner: str, report: BundleReport) -> list[KeyEntry]:
    entries: list[KeyEntry] = []
    for item in raw if isinstance(raw, list) else []:
        try:
            public = b64decode(item["public_key"])
            entry = KeyEntry(
                key_id=item["key_id"],
                public_raw=public,
                valid_from=from_rfc3339(item["valid_from"]),
                valid_to=from_rfc3339(item["valid_to"]) if item.get("valid_to") else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            report.add(file, owner, f"unreadable key entry ({exc})")
            continue
        if sha256_hex(entry.public_raw) != entry.key_id:
            report.add(file, owner, f"key_id {entry.key_id} is not the SHA-256 of its public key")
            continue
        entries.append(entry)
    return entries


def _load_keys(contents: dict[str, bytes], report: BundleReport) -> tuple[list[KeyEntry], dict[str, list[KeyEntry]]]:
    try:
        keys = _json(contents["keys.json"])
        system = _key_entries(keys["system"], "keys.json", "system", report)
        users = {u: _key_entries(items, "keys.json", f"user {u}", report) for u, items in keys["users"].items()}
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        report.add("keys.json", "", f"missing or unreadable ({exc})")
        return [], {}
    return system, users


def _valid_key(entries: list[KeyEntry], key_id: str, ts: str) -> KeyEntry | str:
    """The entry with ``key_id`` valid at ``ts``, or why there is none."""
    try:
        moment = from_rfc3339(ts)
    except (ValueError, TypeError):
        return f"timestamp {ts!r} is not RFC 3339"
    matching = [entry for entry in entries if entry.key_id == key_id]
    if not matching:
        return f"key {key_id} is not in keys.json"
    valid = [entry for entry in matching if entry.valid_at(moment)]
    return valid[0] if valid else f"key {key_id} was not valid at {ts}"


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
            obj = _json(raw)
            checkpoint = Checkpoint(**{k: obj[k] for k in ("seq", "hash", "ts", "key_id", "sig")})
        except (ValueError, KeyError, TypeError) as exc:
            report.add("checkpoints.jsonl", "", f"unreadable checkpoint ({exc})")
            continue
        report.checkpoints += 1
        where = f"seq {checkpoint.seq}"
        key = _valid_key(system, checkpoint.key_id, checkpoint.ts)
        if isinstance(key, str):
            report.add("checkpoints.jsonl", where, key)
        elif not checkpoint.verifies(key.public_raw):
            report.add("checkpoints.jsonl", where, "signature does not verify under the system key")
        elif checkpoint.seq in by_seq and by_seq[checkpoint.seq] != checkpoint.hash:
            report.add("checkpoints.jsonl", where, "the signed hash differs from audit.jsonl's line")
        elif lines and checkpoint.seq == lines[-1].seq:
            covered = True
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


def _check_signatures(
    contents: dict[str, bytes], lines: list[_Line], users: dict[str, list[KeyEntry]], report: BundleReport
) -> list[dict[str, Any]]:
    """§6.5; returns the readable signature records."""
    applied = _applied_events(lines)
    records: list[dict[str, Any]] = []
    for number, raw in enumerate(contents.get("signatures.jsonl", b"").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = _json(raw)
            sig_id = str(record["id"])
        except (ValueError, KeyError, TypeError) as exc:
            report.add("signatures.jsonl", f"line {number}", f"unreadable signature ({exc})")
            continue
        records.append(record)
        report.signatures += 1
        where = f"signature {sig_id}"
        if set(record) != SIGNATURE_KEYS:
            report.add("signatures.jsonl", where, f"keys are {sorted(record)}, expected {sorted(SIGNATURE_KEYS)}")
            continue
        if record["meaning"] not in MEANINGS:
            report.add("signatures.jsonl", where, f"meaning {record['meaning']!r} is not one of the spec's")
        key = _valid_key(users.get(str(record["signer"]), []), str(record["key_id"]), str(record["ts"]))
        unsigned = {k: v for k, v in record.items() if k != "sig"}
        if isinstance(key, str):
            report.add("signatures.jsonl", where, f"no key of signer {record['signer']}: {key}")
        elif not ed25519_verify(key.public_raw, canon(unsigned), str(record["sig"])):
            report.add("signatures.jsonl", where, "signature does not verify under the signer's key")
        if sig_id not in applied:
            report.add("audit.jsonl", where, "has no signature.applied event")
        elif applied[sig_id] != record:
            report.add("audit.jsonl", where, "its signature.applied event records a different signature")
    return records


def _check_record(
    contents: dict[str, bytes], scope: dict[str, Any], records: list[dict[str, Any]], report: BundleReport
) -> None:
    """§6.6 for a batch scope."""
    if "batch" not in scope and "record.json" not in contents:
        return
    try:
        signed = _json(contents["record.json"])["signed_content"]
    except (KeyError, ValueError, TypeError) as exc:
        report.add("record.json", "", f"a batch bundle needs record.json with signed_content ({exc})")
        return
    for record in records:
        sig_id = str(record.get("id"))
        if sig_id not in signed:
            report.add("record.json", f"signature {sig_id}", "signed_content has no entry for this signature")
            continue
        try:
            matches = sha256_hex(canon(signed[sig_id])) == record.get("content_hash")
        except EbrError as exc:
            report.add("record.json", f"signature {sig_id}", f"signed content cannot be canonicalized: {exc}")
            continue
        if not matches:
            report.add("record.json", f"signature {sig_id}", "content_hash does not match the signed content")


def verify_bundle(source: Path | IO[bytes], *, progress: Progress | None = None) -> BundleReport:
    """Verify a bundle file per spec §6; never raises for a bad bundle, reports it."""
    report = BundleReport()
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        report.add(str(source), "", f"not a readable ZIP file ({exc})")
        return report
    with archive:
        contents = _check_manifest(archive, report)
        try:
            scope = _json(archive.read("manifest.json")).get("scope") or {}
        except (KeyError, ValueError, AttributeError):
            scope = {}
    if "audit.jsonl" not in contents:
        report.add("audit.jsonl", "", "missing from the bundle")
    lines = _check_chain(contents.get("audit.jsonl", b""), report, progress)
    system, users = _load_keys(contents, report)
    _check_checkpoints(contents, lines, system, report)
    records = _check_signatures(contents, lines, users, report)
    _check_record(contents, scope if isinstance(scope, dict) else {}, records, report)
    return report
