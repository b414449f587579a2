"""The traceability matrix: requirement → regulation clause → tests → result.

Pure: it takes the requirements, the expected clauses and the OQ's test
outcomes, and says for each requirement whether it is proven. The run fails
(and each failure is named) when

* a requirement has no passing test (untested, or every test skipped),
* a test proving a requirement failed or errored,
* an expected clause is served by no requirement,
* a test names a requirement id that is not defined.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from validation.oq import CaseResult
from validation.requirements import Clause, Requirement, requirements_for_clause

PASSED = "passed"
FAILED = "failed"
NOT_TESTED = "not tested"


@dataclass(frozen=True)
class RequirementRow:
    """One requirement with the tests that prove it and its verdict."""

    requirement: Requirement
    tests: tuple[CaseResult, ...]
    status: str  # passed | failed | not tested

    @property
    def counts(self) -> dict[str, int]:
        counted: dict[str, int] = {}
        for test in self.tests:
            counted[test.outcome] = counted.get(test.outcome, 0) + 1
        return counted


@dataclass(frozen=True)
class ClauseRow:
    """One expected clause and the requirements that serve it."""

    clause: Clause
    requirements: tuple[str, ...]


@dataclass(frozen=True)
class Matrix:
    """The whole matrix and the list of its failures, each naming what failed."""

    requirements: tuple[RequirementRow, ...]
    clauses: tuple[ClauseRow, ...]
    unknown: tuple[tuple[str, str], ...]  # (test node id, undefined requirement id)

    @property
    def failures(self) -> list[str]:
        found: list[str] = []
        for row in self.requirements:
            found += _row_failures(row)
        found += [f"clause {row.clause.id} is served by no requirement" for row in self.clauses if not row.requirements]
        found += [
            f"test {nodeid} names {req_id}, which is not a defined requirement" for nodeid, req_id in self.unknown
        ]
        return found

    @property
    def passed(self) -> bool:
        return not self.failures


def _row_failures(row: RequirementRow) -> list[str]:
    req_id = row.requirement.id
    bad = [t for t in row.tests if t.outcome in {"failed", "error"}]
    found = [f"{req_id}: test {t.nodeid} {t.outcome}: {t.message or 'no message'}" for t in bad]
    if not any(t.passed for t in row.tests):
        why = ", ".join(f"{n} {outcome}" for outcome, n in sorted(row.counts.items())) or "no test names it"
        found.append(f"{req_id} has no passing test ({why})")
    return found


def _status(tests: Iterable[CaseResult]) -> str:
    outcomes = [t.outcome for t in tests]
    if any(o in {"failed", "error"} for o in outcomes):
        return FAILED
    return PASSED if PASSED in outcomes else NOT_TESTED


def build_matrix(
    requirements: Mapping[str, Requirement], clauses: Mapping[str, Clause], tests: Iterable[CaseResult]
) -> Matrix:
    """Trace every requirement to its clauses and tests, and every clause to its requirements."""
    by_requirement: dict[str, list[CaseResult]] = {req_id: [] for req_id in requirements}
    unknown: list[tuple[str, str]] = []
    for test in tests:
        for req_id in test.requirements:
            if req_id in by_requirement:
                by_requirement[req_id].append(test)
            else:
                unknown.append((test.nodeid, req_id))
    rows = tuple(
        RequirementRow(requirement=req, tests=tuple(by_requirement[req.id]), status=_status(by_requirement[req.id]))
        for req in requirements.values()
    )
    clause_rows = tuple(
        ClauseRow(clause=clause, requirements=tuple(requirements_for_clause(clause.id, requirements.values())))
        for clause in clauses.values()
    )
    return Matrix(requirements=rows, clauses=clause_rows, unknown=tuple(unknown))
