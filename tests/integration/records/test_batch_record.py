"""The batch record of a completed example batch: PDF/A-3 text and attachment, BatchML, the auditor's bundle."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pikepdf
import pytest
import xmlschema
from click.testing import CliRunner
from sqlalchemy import select

from audit.bundle_verify import verify_bundle
from audit.keys import fingerprint, load_system_key
from audit.models import AuditEvent
from ebr.cli import main
from ebr.core.canonical import canon, sha256_hex
from ebr.records import bpr, pdf
from ebr.records import services as reports
from tests.integration.execution.conftest import PASSWORD
from tests.integration.records.conftest import Example
from tests.integration.records.support import attachment, page_pngs, pdf_text, pdfa_part, rewrite
from tests.support.tagged_pdf import check_tagged


@pytest.mark.requirement("URS-QA-002", "URS-SIG-002", "URS-BAT-005")
def test_the_printed_record_shows_every_entered_value_and_every_signature_manifestation(
    example: Example, tmp_path: Path, backend: str
) -> None:
    printed = reports.print_record(example.floor.services, ref=example.number, actor="quinn")
    path = tmp_path / "record.pdf"
    path.write_bytes(printed.data)
    text = pdf_text(path)
    record = printed.record
    values = [e["value"] for s in record["steps"] for e in s["entries"]]
    assert set(example.entered) <= set(values) | {"sample spilt"}
    missing_values = [v for v in [*values, *example.entered] if v not in text]
    assert missing_values == []
    manifestations = [s["manifestation"] for s in record["signatures"].values()]
    assert len(manifestations) >= 11, "steps, the correction and the deviation are signed"
    assert [m for m in manifestations if m not in text] == []
    assert "CHANGED, see C1" in text, "the original value is marked as changed"
    assert "CORRECTED C1" in text, "the new value is marked as a correction"
    assert "typo: the display showed 23.75" in text
    assert "second sample drawn from the same vessel" in text, "the deviation's handling"
    for lot_and_weight in ("L-X-001", "C-L-X-001", "2.503"):
        assert lot_and_weight in text
    assert f"Page 1 of {printed.pages}" in text
    assert f"Page {printed.pages} of {printed.pages}" in text
    assert "by Quinn QA (quinn)" in text, "who printed it, in the footer"
    assert "Appendix: audit trail of the batch" in text
    assert "Exceptions and QA's dispositions" in text
    assert {e["kind"] for e in record["exceptions"]} >= {"correction", "deviation"}
    # Human labels: phase types and checks in words, not codes and JSON.
    assert "equipment check" in text
    assert "checks: clean, available" in text
    assert "[equipment_check]" not in text
    assert '["clean"' not in text
    assert "batch.entry.corrected" in text
    key = load_system_key(example.floor.services.settings.keys_dir)
    assert key is not None
    assert fingerprint(key.key_id) in re.sub(r"\s+", "", text), "the installation key's fingerprint, to pin"
    pngs = page_pngs(path, f"example-{backend}")
    assert len(pngs) == printed.pages


@pytest.mark.requirement("URS-QA-002")
def test_printing_is_audited_with_who_when_and_the_hash_of_the_file(example: Example) -> None:
    printed = reports.print_record(example.floor.services, ref=example.number, actor="quinn")
    with example.floor.services.session_factory() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "batch.record.printed")).one()
        data = json.loads(event.canonical)
    assert (data["actor"], data["entity"]) == ("quinn", {"type": "batch", "id": example.number})
    assert data["after"]["sha256"] == sha256_hex(printed.data)
    assert data["after"]["pages"] == printed.pages


@pytest.mark.requirement("URS-QA-002", "URS-QA-003", "URS-REC-030")
def test_the_pdf_is_pdfa_3b_with_record_json_attached_whether_laid_out_whole_or_in_parallel(
    example: Example, tmp_path: Path
) -> None:
    record = reports.snapshot(example.floor.services, ref=example.number, actor="quinn")
    data = json.dumps(record).encode()
    whole = pdf.render_whole(record, data)
    stats = pdf.RenderStats()
    parallel = pdf.render_parallel(record, data, workers=2, stats=stats)
    for rendered in (whole, parallel):
        assert pdfa_part(rendered) == ("3", "B", True)
        assert attachment(rendered) == data
    with pikepdf.open(io.BytesIO(parallel)) as document:
        check_tagged(document)  # one structure tree over the parts, every MCID reachable
    assert stats.parts >= 6
    assert len(stats.worker_peak_kib) == stats.parts
    path = tmp_path / "parallel.pdf"
    path.write_bytes(parallel)
    for page in range(1, stats.pages + 1):
        assert f"Page {page} of {stats.pages}" in pdf_text(path, first=page, last=page)
    whole_path = tmp_path / "whole.pdf"
    whole_path.write_bytes(whole)
    for rendered_path in (path, whole_path):
        _contents_point_at_their_pages(rendered_path)
    page_pngs(path, "example-parallel")


HEADINGS = {
    "Steps": "Steps",
    "Deviations and their handling": "Deviations and their handling",
    "Materials and equipment": "Materials consumed",
    "Trends": "Trends",
    "Review and release": "Review and release",
    "Appendix: audit trail of the batch": "Appendix: audit trail of the batch",
}


def _contents_point_at_their_pages(path: Path) -> None:
    contents = pdf_text(path, first=2, last=2, layout=True)
    for title, heading in HEADINGS.items():
        found = re.search(re.escape(title) + r"[ .]*(\d+)", contents)
        assert found is not None, f"{title} is in the contents with its page"
        page = int(found.group(1))
        assert heading in pdf_text(path, first=page, last=page), f"{path.name}: {title} is on page {page}"


@pytest.mark.requirement("URS-AUD-005")
def test_the_batch_production_record_validates_against_the_batchml_schema(example: Example, tmp_path: Path) -> None:
    produced = reports.production_record(example.floor.services, ref=example.number, actor="quinn")
    schema = xmlschema.XMLSchema(str(Path(bpr.schema_path())))
    path = tmp_path / "bpr.xml"
    path.write_bytes(produced.data)
    schema.validate(str(path))
    xml = produced.data.decode()
    assert f"<BatchID>{example.number}</BatchID>" in xml
    assert "<PrechangeData>" in xml
    assert "<ValueString>21.5</ValueString>" in xml
    assert "<EventSubType>Consume</EventSubType>" in xml


@pytest.mark.requirement("URS-AUD-005", "URS-SIG-003")
def test_the_batch_bundle_verifies_and_carries_the_same_record_json_as_the_pdf(
    example: Example, tmp_path: Path
) -> None:
    out = tmp_path / "bundle.zip"
    result = reports.export_batch_bundle(example.floor.services, ref=example.number, actor="quinn", out_path=out)
    report = verify_bundle(out)
    assert report.ok, [p.describe() for p in report.problems]
    with zipfile.ZipFile(out) as archive:
        record_json, record_pdf = archive.read("record.json"), archive.read("record.pdf")
        manifest = json.loads(archive.read("manifest.json"))
        signatures = archive.read("signatures.jsonl").decode().splitlines()
    assert attachment(record_pdf) == record_json
    assert manifest["scope"]["batch"] == example.number
    record = json.loads(record_json)
    assert len(signatures) == len(record["signatures"]) == result.signatures
    assert (result.redacted, report.version) == (0, 2), "format v2: only the batch's events, each with its proof"
    cli = CliRunner().invoke(main, ["audit", "verify", "--bundle", str(out)])
    assert cli.exit_code == 0, cli.output


@pytest.mark.requirement("URS-AUD-005", "URS-SIG-003")
def test_a_tampered_batch_bundle_fails_verification(example: Example, tmp_path: Path) -> None:
    out = tmp_path / "bundle.zip"
    reports.export_batch_bundle(example.floor.services, ref=example.number, actor="quinn", out_path=out)
    with zipfile.ZipFile(out) as archive:
        record = json.loads(archive.read("record.json"))
        manifest = json.loads(archive.read("manifest.json"))
    sig_id = next(iter(record["signed_content"]))
    record["signed_content"][sig_id]["tampered"] = "yes"
    forged = canon(record)
    plain = rewrite(out, "record.json", forged, tmp_path / "plain.zip")
    assert not verify_bundle(plain).ok, "the manifest no longer matches"
    manifest["files"]["record.json"] = sha256_hex(forged)
    step1 = rewrite(out, "record.json", forged, tmp_path / "step1.zip")
    sly = rewrite(step1, "manifest.json", canon(manifest), tmp_path / "sly.zip")
    report = verify_bundle(sly)
    assert not report.ok
    assert any(sig_id in p.where for p in report.problems), [p.describe() for p in report.problems]
    cli = CliRunner().invoke(main, ["audit", "verify", "--bundle", str(sly)])
    assert cli.exit_code != 0


def test_the_cli_writes_record_bpr_and_bundle_for_qa_and_refuses_an_operator(example: Example, tmp_path: Path) -> None:
    settings = example.floor.services.settings
    runner = CliRunner(env={"EBR_DATABASE_URL": settings.database_url, "EBR_DATA_DIR": str(settings.data_dir)})
    for command, name in (("record", "r.pdf"), ("bpr", "r.xml"), ("export", "r.zip")):
        args = ["batch", command, example.number, "-o", str(tmp_path / name), "--user", "quinn", "--password-stdin"]
        result = runner.invoke(main, args, input=PASSWORD + "\n")
        assert result.exit_code == 0, result.output
        assert (tmp_path / name).stat().st_size > 0
    refused = runner.invoke(
        main,
        ["batch", "record", example.number, "-o", str(tmp_path / "x.pdf"), "--user", "olga", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert refused.exit_code == 2
    assert "audit.export" in refused.output
