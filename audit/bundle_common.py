"""What both bundle formats share: findings, keys.json, e-signature records and record.json checks.

Pure Python (json, hashlib, Ed25519); no database, no configuration.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from audit.keys import b64decode, ed25519_verify
from ebr.core.canonical import canon, sha256_hex
from ebr.core.clock import from_rfc3339
from ebr.core.errors import EbrError

SIGNATURE_KEYS = frozenset(
    {"id", "signer", "printed_name", "meaning", "ts", "subject", "content_hash", "reason", "key_id", "sig"}
)
MEANINGS = frozenset({"performed", "verified", "witnessed", "reviewed", "approved", "released", "rejected", "authored"})


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
    """What a verification found; ``keys_used`` are the system key ids whose signatures were relied on."""

    problems: list[Problem] = field(default_factory=list)
    events: int = 0
    redacted: int = 0
    signatures: int = 0
    checkpoints: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    version: int = 0
    kind: str = ""
    tree_size: int | None = None
    root_hash: str | None = None
    previous_tree_size: int | None = None
    keys_used: set[str] = field(default_factory=set)
    pinned: bool = False

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


def parse_json(data: bytes) -> Any:
    """Parse JSON; floats are kept as floats so that canon() refuses them later."""
    return json.loads(data.decode("utf-8"))


def key_entries(raw: Any, file: str, owner: str, report: BundleReport) -> list[KeyEntry]:
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


def load_keys(contents: dict[str, bytes], report: BundleReport) -> tuple[list[KeyEntry], dict[str, list[KeyEntry]]]:
    try:
        keys = parse_json(contents["keys.json"])
        system = key_entries(keys["system"], "keys.json", "system", report)
        users = {u: key_entries(items, "keys.json", f"user {u}", report) for u, items in keys["users"].items()}
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        report.add("keys.json", "", f"missing or unreadable ({exc})")
        return [], {}
    return system, users


def valid_key(entries: list[KeyEntry], key_id: str, ts: str) -> KeyEntry | str:
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


def check_signatures(
    contents: dict[str, bytes],
    applied: dict[str, Any],
    users: dict[str, list[KeyEntry]],
    report: BundleReport,
    events_file: str = "audit.jsonl",
) -> list[dict[str, Any]]:
    """§6.5: every record verifies under its signer's key and matches its ``signature.applied`` event.

    ``applied`` maps signature id to the ``after`` of its ``signature.applied`` event.
    Returns the readable signature records.
    """
    records: list[dict[str, Any]] = []
    for number, raw in enumerate(contents.get("signatures.jsonl", b"").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = parse_json(raw)
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
        key = valid_key(users.get(str(record["signer"]), []), str(record["key_id"]), str(record["ts"]))
        unsigned = {k: v for k, v in record.items() if k != "sig"}
        if isinstance(key, str):
            report.add("signatures.jsonl", where, f"no key of signer {record['signer']}: {key}")
        elif not ed25519_verify(key.public_raw, canon(unsigned), str(record["sig"])):
            report.add("signatures.jsonl", where, "signature does not verify under the signer's key")
        if sig_id not in applied:
            report.add(events_file, where, "has no signature.applied event")
        elif applied[sig_id] != record:
            report.add(events_file, where, "its signature.applied event records a different signature")
    return records


def check_record(
    contents: dict[str, bytes], scope: dict[str, Any], records: list[dict[str, Any]], report: BundleReport
) -> None:
    """§6.6 for a batch scope."""
    if "batch" not in scope and "record.json" not in contents:
        return
    try:
        signed = parse_json(contents["record.json"])["signed_content"]
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
