"""Offline bundle verification (spec §6): the spec's vectors and every check's failure."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.bundle_verify import verify_bundle
from audit.checkpoints import sign_checkpoint
from audit.keys import SystemKey
from ebr.core.canonical import canon
from tests.unit.audit.chains import bundle, bundle_files, key_entry

pytestmark = pytest.mark.requirement("URS-AUD-005")
VECTORS = Path(__file__).parents[2] / "data" / "spec-vectors"


def _problems(files: dict[str, bytes], scope: dict[str, object] | None = None) -> list[str]:
    return [p.describe() for p in verify_bundle(bundle(files, scope)).problems]


@pytest.fixture
def key() -> SystemKey:
    return SystemKey(Ed25519PrivateKey.generate())


def test_the_valid_spec_vector_verifies() -> None:
    report = verify_bundle(VECTORS / "valid-bundle.zip")
    assert report.ok, [p.describe() for p in report.problems]
    assert (report.first_seq, report.last_seq, report.events, report.redacted, report.signatures) == (1, 4, 3, 1, 1)


@pytest.mark.parametrize(
    ("vector", "expected"),
    [
        ("tampered-value.zip", ["audit.jsonl seq 3: hash does not match content"]),
        (
            "tampered-record.zip",
            ["record.json signature sig-0001: content_hash does not match the signed content"],
        ),
        (
            "tampered-truncated.zip",
            [
                "audit.jsonl seq 3: no valid checkpoint covers the last event",
                "audit.jsonl signature sig-0001: has no signature.applied event",
            ],
        ),
    ],
)
def test_each_tampered_spec_vector_is_rejected_for_its_stated_reason(vector: str, expected: list[str]) -> None:
    assert [p.describe() for p in verify_bundle(VECTORS / vector).problems] == expected


def test_a_bundle_built_from_a_chain_verifies(key: SystemKey) -> None:
    assert _problems(bundle_files(key)) == []


def test_a_file_changed_after_the_manifest_was_written_is_rejected(key: SystemKey) -> None:
    buffer = bundle(bundle_files(key))
    with zipfile.ZipFile(buffer) as archive:
        files = {n: archive.read(n) for n in archive.namelist()}
    files["keys.json"] = files["keys.json"] + b" "
    forged = io.BytesIO()
    with zipfile.ZipFile(forged, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    forged.seek(0)
    assert [p.describe() for p in verify_bundle(forged).problems] == ["keys.json: SHA-256 does not match manifest.json"]


def test_extra_and_missing_files_are_rejected(key: SystemKey) -> None:
    files = bundle_files(key)
    files["notes.txt"] = b"hello"
    buffer = bundle(files)
    with zipfile.ZipFile(buffer) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        contents = {n: archive.read(n) for n in archive.namelist() if n != "notes.txt"}
    contents["extra.bin"] = b"x"
    rebuilt = io.BytesIO()
    with zipfile.ZipFile(rebuilt, "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, canon(manifest) if name == "manifest.json" else data)
    rebuilt.seek(0)
    problems = [p.describe() for p in verify_bundle(rebuilt).problems]
    assert problems == [
        "notes.txt: listed in manifest.json but missing from the bundle",
        "extra.bin: in the bundle but not listed in manifest.json",
    ]


def test_a_gap_and_a_broken_prev_are_located(key: SystemKey) -> None:
    files = bundle_files(key, n=5)
    lines = files["audit.jsonl"].splitlines()
    files["audit.jsonl"] = b"\n".join([lines[0], lines[2], lines[3], lines[4]]) + b"\n"
    assert _problems(files) == [
        "audit.jsonl seq 3: seq does not follow 1 (gap or disorder)",
        "audit.jsonl seq 3: prev does not equal the hash of seq 1",
    ]


def test_a_checkpoint_by_an_unknown_key_or_with_a_bad_signature_is_rejected(key: SystemKey) -> None:
    files = bundle_files(key)
    other = SystemKey(Ed25519PrivateKey.generate())
    last = json.loads(files["audit.jsonl"].splitlines()[-1])
    forged = sign_checkpoint(other, seq=4, hash=last["hash"], ts="2026-11-24T10:00:59.000000Z")
    files["checkpoints.jsonl"] = forged.line() + b"\n"
    assert _problems(files) == [
        f"checkpoints.jsonl seq 4: key {other.key_id} is not in keys.json",
        "audit.jsonl seq 4: no valid checkpoint covers the last event",
    ]
    bad = json.loads(bundle_files(key)["checkpoints.jsonl"])
    bad["ts"] = "2026-11-24T10:00:58.000000Z"
    files["checkpoints.jsonl"] = canon(bad) + b"\n"
    assert _problems(files)[0] == "checkpoints.jsonl seq 4: signature does not verify under the system key"


def test_a_checkpoint_before_its_keys_validity_is_rejected(key: SystemKey) -> None:
    files = bundle_files(key)
    files["keys.json"] = canon({"system": [key_entry(key, valid_from="2027-01-01T00:00:00.000000Z")], "users": {}})
    expected = f"checkpoints.jsonl seq 4: key {key.key_id} was not valid at 2026-11-24T10:00:59.000000Z"
    assert _problems(files)[0] == expected


def test_floats_in_an_event_are_rejected(key: SystemKey) -> None:
    files = bundle_files(key, n=1)
    event = json.loads(files["audit.jsonl"])
    files["audit.jsonl"] = json.dumps({**event, "after": {"value": 1.5}}, separators=(",", ":")).encode() + b"\n"
    problems = _problems(files)
    assert problems[0].startswith("audit.jsonl seq 1: content cannot be canonicalized")


def test_a_batch_bundle_without_record_json_is_rejected(key: SystemKey) -> None:
    problems = _problems(bundle_files(key), scope={"batch": "B-1"})
    assert problems == ["record.json: a batch bundle needs record.json with signed_content ('record.json')"]
