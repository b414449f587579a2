"""Cost of the validation machinery: requirement tracing in the OQ, and the PDF/A report.

1. OQ tracing: ``run_oq`` (tracing plugin, JUnit XML, parsing) over a generated suite
   of requirement-tagged tests, beside plain ``pytest -q`` over the same suite.
   Goal: tracing adds < 25 % to the test run.
2. Report: ``write_pdf`` (PDF/A-3b, attachments) of a report with the shipped
   requirements and one test per requirement, beside WeasyPrint writing the same HTML as a
   plain PDF. Goal: < 10 s.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.table import Row, median, print_table
from ebr.core.config import load_settings
from validation.matrix import build_matrix
from validation.oq import CaseResult, OqResult, run_oq
from validation.report import build_report, render_html, write_pdf
from validation.requirements import load_clauses, load_requirements

TESTS = int(os.environ.get("EBR_BENCH_VALIDATION_TESTS", "400"))
RUNS = int(os.environ.get("EBR_BENCH_VALIDATION_RUNS", "3"))
INI = "[pytest]\naddopts = --strict-markers\nmarkers =\n    requirement(id): traced\n"


def _suite(root: Path, count: int) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "pytest.ini").write_text(INI, encoding="utf-8")
    body = ["import pytest\n"]
    body += [f'@pytest.mark.requirement("R-{i % 50}")\ndef test_{i}():\n    assert {i} >= 0\n' for i in range(count)]
    (root / "tests" / "test_generated.py").write_text("\n".join(body), encoding="utf-8")
    return root / "tests"


def _seconds(action: object, runs: int) -> float:
    action()  # type: ignore[operator]  # warm-up: imports, font cache
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()  # type: ignore[operator]
        samples.append(time.perf_counter() - start)
    return median(samples)


def oq_rows(scratch: Path) -> list[Row]:
    tests = _suite(scratch / "suite", TESTS)

    def plain() -> None:
        command = [sys.executable, "-m", "pytest", str(tests), "-q", "-p", "no:cacheprovider"]
        subprocess.run(command, cwd=tests.parent, capture_output=True, check=True)

    def traced() -> None:
        result = run_oq(tests)
        assert len(result.tests) == TESTS, result.problems

    return [Row(f"OQ of {TESTS} tagged tests (traced)", _seconds(traced, RUNS), _seconds(plain, RUNS), "s", "< 1.25")]


def report_rows(scratch: Path) -> list[Row]:
    requirements = load_requirements()
    tests = tuple(CaseResult(f"tests/t.py::test_{r}", (r,), "passed", "", "0.010") for r in requirements)
    oq = OqResult(("pytest",), 0, tests, (), "<testsuites/>", None, "")
    settings = load_settings({"EBR_DATA_DIR": str(scratch)})
    matrix = build_matrix(requirements, load_clauses(), tests)
    data = build_report(settings=settings, iq=None, oq=oq, matrix=matrix, generated_at=dt.datetime.now(dt.UTC))

    def pdf_a() -> None:
        write_pdf(scratch / "report.pdf", data, approval=None, junit_xml=oq.junit_xml)

    def plain_pdf() -> None:
        from weasyprint import HTML

        HTML(string=render_html(data, None)).write_pdf(str(scratch / "plain.pdf"))

    name = f"report PDF/A, {len(requirements)} requirements"
    return [Row(name, _seconds(pdf_a, RUNS), _seconds(plain_pdf, RUNS), "s", "< 10 s")]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="ebr-bench-validation-") as scratch:
        rows = oq_rows(Path(scratch)) + report_rows(Path(scratch))
    print_table("Validation: OQ tracing and the report (median of runs)", rows, baseline_name="plain")


if __name__ == "__main__":
    main()
