"""The traceability matrix names every gap: untested requirements, failed tests, uncovered clauses."""

from __future__ import annotations

import pytest

from validation.matrix import FAILED, NOT_TESTED, PASSED, build_matrix
from validation.oq import CaseResult
from validation.requirements import load_clauses, load_requirements

REQUIREMENTS = load_requirements(
    "requirements:\n"
    "  - {id: R-1, text: one, clauses: ['21 CFR 11.50(a)'], risk: high, area: a}\n"
    "  - {id: R-2, text: two, clauses: ['EU GMP Annex 11 §8.1'], risk: low, area: b}\n"
)
CLAUSES = load_clauses(
    "clauses:\n"
    "  - {id: 21 CFR 11.50, title: manifestation}\n"
    "  - {id: EU GMP Annex 11 §8, title: printouts}\n"
    "  - {id: EU GMP Annex 11 §1, title: risk management}\n"
)


def outcome(nodeid: str, result: str, *reqs: str) -> CaseResult:
    return CaseResult(nodeid, reqs, result, "boom" if result == "failed" else "", "0.01")


@pytest.mark.requirement("URS-VAL-001")
def test_a_requirement_without_tests_fails_the_matrix_and_is_named() -> None:
    matrix = build_matrix(REQUIREMENTS, CLAUSES, [outcome("t.py::test_a", "passed", "R-1")])
    assert not matrix.passed
    assert "R-2 has no passing test (no test names it)" in matrix.failures
    statuses = {row.requirement.id: row.status for row in matrix.requirements}
    assert statuses == {"R-1": PASSED, "R-2": NOT_TESTED}


@pytest.mark.requirement("URS-VAL-001")
def test_a_failing_test_marks_its_requirement_failed_even_beside_a_passing_one() -> None:
    tests = [outcome("t.py::test_a", "passed", "R-1", "R-2"), outcome("t.py::test_b", "failed", "R-1")]
    matrix = build_matrix(REQUIREMENTS, CLAUSES, tests)
    row = next(r for r in matrix.requirements if r.requirement.id == "R-1")
    assert row.status == FAILED
    assert row.counts == {"passed": 1, "failed": 1}
    assert "R-1: test t.py::test_b failed: boom" in matrix.failures


@pytest.mark.requirement("URS-VAL-001")
def test_a_requirement_whose_tests_were_all_skipped_is_not_proven() -> None:
    tests = [outcome("t.py::test_a", "passed", "R-1"), outcome("t.py::test_b", "skipped", "R-2")]
    matrix = build_matrix(REQUIREMENTS, CLAUSES, tests)
    assert "R-2 has no passing test (1 skipped)" in matrix.failures


@pytest.mark.requirement("URS-VAL-001")
def test_a_clause_served_by_no_requirement_fails_and_sub_clauses_cover_their_parent() -> None:
    tests = [outcome("t.py::test_a", "passed", "R-1", "R-2")]
    matrix = build_matrix(REQUIREMENTS, CLAUSES, tests)
    coverage = {row.clause.id: row.requirements for row in matrix.clauses}
    assert coverage == {"21 CFR 11.50": ("R-1",), "EU GMP Annex 11 §8": ("R-2",), "EU GMP Annex 11 §1": ()}
    assert matrix.failures == ["clause EU GMP Annex 11 §1 is served by no requirement"]


def test_a_test_naming_an_undefined_requirement_is_a_failure() -> None:
    tests = [outcome("t.py::test_a", "passed", "R-1", "R-2", "R-9")]
    matrix = build_matrix(REQUIREMENTS, {}, tests)
    assert matrix.failures == ["test t.py::test_a names R-9, which is not a defined requirement"]


def test_everything_proven_and_covered_passes() -> None:
    matrix = build_matrix(REQUIREMENTS, {}, [outcome("t.py::test_a", "passed", "R-1", "R-2")])
    assert matrix.passed
    assert matrix.failures == []


def test_a_requirement_whose_only_tests_failed_says_so() -> None:
    tests = [outcome("t.py::test_a", "passed", "R-1"), outcome("t.py::test_b", "failed", "R-2")]
    matrix = build_matrix(REQUIREMENTS, {}, tests)
    assert "R-2 has no passing test (1 failed)" in matrix.failures
