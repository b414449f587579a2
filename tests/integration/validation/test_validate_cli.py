"""`ebr validate`: IQ, OQ on a tiny suite, the matrix, the PDF/A report and its approval signature."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from audit.models import AuditEvent
from ebr.cli import main
from ebr.core.canonical import content_hash
from tests.integration.validation.conftest import PASSWORD, PRINTED_NAME, VALIDATOR, Installation, Suite, pdf_text
from validation.requirements import load_requirements

PASSING = """
@pytest.mark.requirement("R-1")
def test_one_proves_r1():
    assert 1 + 1 == 2
"""


def run(installation: Installation, args: list[str], stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, args, env=installation.env, input=stdin, catch_exceptions=False)


def attached_report(path: Path) -> dict[str, Any]:
    with pikepdf.open(path) as pdf:
        data: dict[str, Any] = json.loads(pdf.attachments["validation-report.json"].get_file().read_bytes())
    return data


def signature_events(installation: Installation) -> list[AuditEvent]:
    with installation.services.session_factory() as session:
        query = select(AuditEvent).where(
            AuditEvent.action == "signature.applied", AuditEvent.entity_type == "validation_report"
        )
        return list(session.scalars(query))


@pytest.mark.requirement("URS-VAL-001")
def test_a_requirement_without_tests_makes_validate_fail_and_name_it(
    installation: Installation, suite: Suite, tmp_path: Path
) -> None:
    suite.write_tests(PASSING)
    suite.write_requirements("R-1", "R-2")
    result = run(installation, suite.args(tmp_path / "report.pdf"))
    assert result.exit_code == 1, result.output
    assert "R-2 has no passing test (no test names it)" in result.output
    assert "verdict: FAIL" in result.output
    rows = {row["id"]: row["status"] for row in attached_report(tmp_path / "report.pdf")["matrix"]["requirements"]}
    assert rows == {"R-1": "passed", "R-2": "not tested"}


@pytest.mark.requirement("URS-VAL-001")
def test_a_failing_tagged_test_appears_as_failed_in_the_matrix(
    installation: Installation, suite: Suite, tmp_path: Path
) -> None:
    suite.write_tests(
        PASSING
        + """
@pytest.mark.requirement("R-1")
def test_two_breaks_r1():
    assert "performed" == "verified"
"""
    )
    suite.write_requirements("R-1")
    report = tmp_path / "report.pdf"
    result = run(installation, suite.args(report))
    assert result.exit_code == 1, result.output
    assert "R-1: test tests/test_tiny.py::test_two_breaks_r1 failed" in result.output
    row = attached_report(report)["matrix"]["requirements"][0]
    assert row["status"] == "failed"
    assert {t["nodeid"]: t["outcome"] for t in row["tests"]} == {
        "tests/test_tiny.py::test_one_proves_r1": "passed",
        "tests/test_tiny.py::test_two_breaks_r1": "failed",
    }
    text = pdf_text(report)
    assert "test_two_breaks_r1" in text
    assert "INCOMPLETE" in text


@pytest.mark.requirement("URS-VAL-001")
def test_a_clause_no_requirement_serves_fails_the_run_and_is_named(
    installation: Installation, suite: Suite, tmp_path: Path
) -> None:
    suite.write_tests(PASSING)
    suite.write_requirements("R-1")
    suite.write_clauses("C-1", "C-2")
    result = run(installation, suite.args(tmp_path / "report.pdf"))
    assert result.exit_code == 1
    assert "clause C-2 is served by no requirement" in result.output


@pytest.mark.requirement("URS-VAL-001")
def test_the_report_text_contains_every_shipped_requirement_id(
    installation: Installation, suite: Suite, tmp_path: Path
) -> None:
    suite.write_tests('\n@pytest.mark.requirement("URS-VAL-001")\ndef test_traced():\n    pass\n')
    report = tmp_path / "report.pdf"
    args = [a for a in suite.args(report) if a not in {"--requirements", "--clauses"}]
    args = [a for a in args if a not in {str(suite.requirements), str(suite.clauses)}]
    result = run(installation, args)
    assert result.exit_code == 1, "most shipped requirements are not proven by the tiny suite"
    text = pdf_text(report)
    missing = [req_id for req_id in load_requirements() if req_id not in text]
    assert missing == []
    assert "EU GMP Annex 11 §17" in text


@pytest.mark.requirement("URS-VAL-001")
@pytest.mark.requirement("URS-SIG-002")
@pytest.mark.requirement("URS-SIG-003")
def test_a_clean_run_is_signed_approved_and_written_as_pdf_a_with_its_evidence(
    installation: Installation, suite: Suite, tmp_path: Path
) -> None:
    suite.write_tests(PASSING)
    suite.write_requirements("R-1")
    report = tmp_path / "report.pdf"
    result = run(installation, [*suite.args(report), "--signer", VALIDATOR, "--password-stdin"], stdin=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "verdict: PASS" in result.output
    data = attached_report(report)
    digest = content_hash(data)
    text = pdf_text(report)
    assert PRINTED_NAME in text
    assert "approved" in text
    assert re.search(rf"content\s+sha256\s+{digest}", text), "every page's footer carries the content hash"
    with pikepdf.open(report) as pdf:
        assert "oq-junit.xml" in pdf.attachments
        metadata = pdf.open_metadata()
        assert (metadata.get("pdfaid:part"), metadata.get("pdfaid:conformance")) == ("3", "B")
        assert "/OutputIntents" in pdf.Root
    [event] = signature_events(installation)
    assert event.entity_id == data["report_id"]
    applied = json.loads(event.canonical)
    assert applied["after"]["content_hash"] == content_hash(
        {"report_id": data["report_id"], "sha256": digest, "verdict": "PASS"}
    )


@pytest.mark.requirement("URS-SIG-001")
def test_a_wrong_password_leaves_the_report_unsigned_and_the_run_failed(
    installation: Installation, suite: Suite, tmp_path: Path
) -> None:
    suite.write_tests(PASSING)
    suite.write_requirements("R-1")
    report = tmp_path / "report.pdf"
    result = run(installation, [*suite.args(report), "--signer", VALIDATOR, "--password-stdin"], stdin="wrong\n")
    assert result.exit_code == 2
    assert "signing refused, the report was written unsigned" in result.output
    assert "Not signed" in pdf_text(report)
    assert signature_events(installation) == []


@pytest.mark.requirement("URS-VAL-001")
def test_a_report_with_deviations_is_not_offered_for_approval(
    installation: Installation, suite: Suite, tmp_path: Path
) -> None:
    suite.write_tests(PASSING)
    suite.write_requirements("R-1", "R-2")
    report = tmp_path / "report.pdf"
    result = run(installation, [*suite.args(report), "--signer", VALIDATOR, "--password-stdin"], stdin=PASSWORD + "\n")
    assert result.exit_code == 1
    assert "not signed: a report with deviations is not offered for approval" in result.output
    assert signature_events(installation) == []


@pytest.mark.requirement("URS-SIG-001")
def test_the_validator_is_asked_for_the_password_before_the_run_and_signs(
    installation: Installation, suite: Suite, tmp_path: Path
) -> None:
    suite.write_tests(PASSING)
    suite.write_requirements("R-1")
    result = run(installation, [*suite.args(tmp_path / "report.pdf"), "--signer", VALIDATOR], stdin=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert result.output.index(f"Password of {VALIDATOR}") < result.output.index("IQ: passed")
    assert PASSWORD not in result.output
    assert f"approved: {PRINTED_NAME} — " in result.output
    assert len(signature_events(installation)) == 1


def test_a_report_path_in_a_missing_directory_is_refused_before_the_run(
    installation: Installation, suite: Suite, tmp_path: Path
) -> None:
    suite.write_tests(PASSING)
    suite.write_requirements("R-1")
    result = run(installation, suite.args(tmp_path / "nowhere" / "report.pdf"))
    assert result.exit_code == 2
    assert "directory" in result.output
    assert "does not exist" in result.output
    assert "IQ:" not in result.output
