"""The report data: deviations for every shortcut, a verdict, and a hash over exactly that data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ebr.core.config import load_settings
from validation.matrix import build_matrix
from validation.oq import CaseResult, OqResult
from validation.report import build_report, group_tests, report_hash, summary_lines
from validation.requirements import load_requirements

REQS = load_requirements("requirements:\n  - {id: R-1, text: one, clauses: [C], risk: high, area: a}\n")
NOW = dt.datetime(2026, 11, 24, 21, 0, tzinfo=dt.UTC)


def oq(pattern: str | None = None) -> OqResult:
    tests = (CaseResult("t.py::test_a", ("R-1",), "passed", "", "0.010"),)
    return OqResult(("pytest",), 0, tests, (), "<testsuites/>", pattern, "1 passed")


def report(tmp_path: Path, pattern: str | None = None) -> dict[str, object]:
    settings = load_settings({"EBR_DATA_DIR": str(tmp_path), "EBR_DATABASE_URL": "postgresql+psycopg://u:pw@h/db"})
    run = oq(pattern)
    return build_report(settings=settings, iq=None, oq=run, matrix=build_matrix(REQS, {}, run.tests), generated_at=NOW)


@pytest.mark.requirement("URS-VAL-001")
def test_skipping_the_iq_or_running_a_subset_is_recorded_as_a_deviation(tmp_path: Path) -> None:
    data = report(tmp_path, pattern="audit")
    assert data["verdict"] == "FAIL"
    deviations = data["deviations"]
    assert isinstance(deviations, list)
    assert any("IQ was not run" in d for d in deviations)
    assert any("subset only (-k audit)" in d for d in deviations)


@pytest.mark.requirement("URS-VAL-001")
def test_the_report_hides_the_database_password_and_hashes_its_exact_content(tmp_path: Path) -> None:
    data = report(tmp_path)
    environment = data["environment"]
    assert isinstance(environment, dict)
    assert "pw" not in environment["database"]
    assert "***" in environment["database"]
    digest = report_hash(data)
    assert digest == report_hash(dict(reversed(list(data.items()))))
    assert digest != report_hash({**data, "verdict": "PASS"})


def test_the_terminal_summary_names_the_verdict_and_every_deviation(tmp_path: Path) -> None:
    data = report(tmp_path)
    lines = summary_lines(data)
    assert lines[-1] == "verdict: FAIL"
    assert "OQ: 1 passed" in lines
    assert any(line.startswith("deviation: IQ was not run") for line in lines)


def test_parametrized_variants_share_one_line_with_the_worst_outcome() -> None:
    tests = [
        {"nodeid": "t.py::test_a[sqlite]", "outcome": "passed"},
        {"nodeid": "t.py::test_a[postgresql]", "outcome": "failed"},
        {"nodeid": "t.py::test_b", "outcome": "skipped"},
    ]
    assert group_tests(tests) == [
        {"base": "t.py::test_a", "outcome": "failed", "variants": [("sqlite", "passed"), ("postgresql", "failed")]},
        {"base": "t.py::test_b", "outcome": "skipped", "variants": []},
    ]
