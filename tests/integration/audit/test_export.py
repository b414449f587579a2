"""Export bundles (spec §5) and verify them offline (spec §6)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from audit.bundle import entity_filter, export_bundle
from audit.bundle_verify import verify_bundle
from audit.chain import Entity
from ebr.bootstrap import Services
from ebr.core.canonical import canon, sha256_hex
from ebr.core.errors import AuditError
from ebr.trail.services import export
from tests.integration.audit.conftest import Append

pytestmark = pytest.mark.requirement("URS-AUD-005")
PASSWORD = "Correct-Horse-42"


def _sign(audited: Services, subject: Entity, content: dict[str, Any]) -> dict[str, Any]:
    with audited.session_factory.begin() as session:
        audited.users.create(
            session,
            actor="system:test",
            user_id="olga",
            full_name="Olga Operator",
            roles=["operator"],
            password=PASSWORD,
            must_change=False,
        )
        audited.users.accept_accountability(session, user_id="olga")
    with audited.session_factory.begin() as session:
        signed = audited.signing.sign(
            session,
            subject=subject,
            content=content,
            meaning="performed",
            reason=None,
            user_id="olga",
            password=PASSWORD,
        )
    return signed.record


def _rewrite(path: Path, name: str, old: bytes, new: bytes) -> Path:
    """Change one member and recompute the manifest, as a careful forger would."""
    with zipfile.ZipFile(path) as archive:
        files = {n: archive.read(n) for n in archive.namelist()}
    files[name] = files[name].replace(old, new)
    manifest = json.loads(files["manifest.json"])
    manifest["files"][name] = sha256_hex(files[name])
    files["manifest.json"] = canon(manifest)
    forged = path.with_name("forged.zip")
    with zipfile.ZipFile(forged, "w") as archive:
        for n, data in files.items():
            archive.writestr(n, data)
    return forged


def test_a_full_export_verifies_offline(audited: Services, append: Append, tmp_path: Path) -> None:
    append(12)
    result = export(audited, out_path=tmp_path / "all.zip", actor="auditor1")
    assert (result.first_seq, result.last_seq, result.events, result.redacted) == (1, 12, 12, 0)
    report = verify_bundle(tmp_path / "all.zip")
    assert report.ok, [p.describe() for p in report.problems]
    assert (report.first_seq, report.last_seq, report.events) == (1, 12, 12)


def test_an_entity_export_carries_only_its_events_each_with_an_inclusion_proof(
    audited: Services, append: Append, tmp_path: Path
) -> None:
    append(12)
    result = export(audited, out_path=tmp_path / "b1.zip", entity=Entity("batch", "B-1"), actor="auditor1")
    assert (result.first_seq, result.events, result.redacted, result.kind) == (2, 6, 0, "events")
    with zipfile.ZipFile(tmp_path / "b1.zip") as archive:
        lines = archive.read("events.jsonl").splitlines()
        proofs = json.loads(archive.read("proofs.json"))
    assert len(lines) == 6
    assert b"B-0" not in b"".join(lines)
    assert not any(b"redacted" in line for line in lines)
    assert sorted(proofs["inclusion"], key=int) == ["2", "4", "6", "8", "10", "12"]
    report = verify_bundle(tmp_path / "b1.zip")
    assert report.ok, [p.describe() for p in report.problems]
    assert (report.version, report.kind, report.events) == (2, "events", 6)


def test_a_value_changed_in_an_exported_bundle_is_rejected_with_its_seq(
    audited: Services, append: Append, tmp_path: Path
) -> None:
    append(12)
    export(audited, out_path=tmp_path / "all.zip", actor="auditor1")
    forged = _rewrite(tmp_path / "all.zip", "events.jsonl", b'"value":"256.0"', b'"value":"266.0"')
    problems = [p.describe() for p in verify_bundle(forged).problems]
    assert problems == [
        "manifest.json signature: does not verify: the manifest (scope, files, tree head) was changed",
        "events.jsonl seq 8: prev does not equal the hash of seq 7",
    ]


def test_a_signed_batch_bundle_carries_signatures_keys_and_record(
    audited: Services, append: Append, tmp_path: Path
) -> None:
    append(3)
    content = {"step": "UP1.OP2.PH3", "value": "250.0", "unit": "L"}
    record = _sign(audited, Entity("batch", "B-1"), content)
    append(2)
    with audited.session_factory.begin() as session:
        result = export_bundle(
            session,
            out_path=tmp_path / "batch.zip",
            scope={"batch": "B-1"},
            clock=audited.clock,
            in_scope=entity_filter("batch", "B-1"),
            signatures=[record],
            user_keys=audited.signing.public_keys(session),
            extra_files={"record.json": canon({"batch": "B-1", "signed_content": {record["id"]: content}})},
            checkpointer=audited.checkpointer,
        )
    assert result.signatures == 1
    report = verify_bundle(tmp_path / "batch.zip")
    assert report.ok, [p.describe() for p in report.problems]
    forged = _rewrite(tmp_path / "batch.zip", "record.json", b'"250.0"', b'"251.0"')
    assert [p.describe() for p in verify_bundle(forged).problems] == [
        "manifest.json signature: does not verify: the manifest (scope, files, tree head) was changed",
        f"record.json signature {record['id']}: content_hash does not match the signed content",
    ]


def test_the_cli_export_includes_the_entitys_signatures(audited: Services, append: Append, tmp_path: Path) -> None:
    append(2)
    record = _sign(audited, Entity("batch", "B-1"), {"value": "1.0"})
    result = export(audited, out_path=tmp_path / "e.zip", entity=Entity("batch", "B-1"), actor="auditor1")
    assert result.signatures == 1
    with zipfile.ZipFile(tmp_path / "e.zip") as archive:
        assert archive.read("signatures.jsonl") == canon(record) + b"\n"
    assert verify_bundle(io.BytesIO((tmp_path / "e.zip").read_bytes())).ok


def test_an_export_outside_the_trail_is_refused(audited: Services, append: Append, tmp_path: Path) -> None:
    append(3)
    with pytest.raises(AuditError, match=r"1\.\.3"):
        export(audited, out_path=tmp_path / "x.zip", from_seq=2, to_seq=9, actor="auditor1")


@pytest.mark.requirement("URS-AUD-020")
def test_an_actor_changed_and_rehashed_in_an_exported_entity_bundle_fails_at_that_event(
    audited: Services, append: Append, tmp_path: Path
) -> None:
    append(12)
    export(audited, out_path=tmp_path / "b1.zip", entity=Entity("batch", "B-1"), actor="auditor1")
    with zipfile.ZipFile(tmp_path / "b1.zip") as archive:
        lines = archive.read("events.jsonl").splitlines()
    event = json.loads(lines[2])
    event["actor"] = "mallory"
    forged = _rewrite(tmp_path / "b1.zip", "events.jsonl", lines[2], canon(event))
    problems = [p.describe() for p in verify_bundle(forged).problems]
    assert (
        f"events.jsonl seq {event['seq']}: the event is not in tree head 12: "
        "its inclusion proof does not lead to the root" in problems
    )
    assert "manifest.json signature: does not verify: the manifest (scope, files, tree head) was changed" in problems
