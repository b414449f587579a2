"""Operational qualification (OQ): run the requirement-tagged tests against the installed code.

The tests run in a separate ``pytest`` process (``-m requirement``) with the
plugin :mod:`validation.pytest_plugin`, which writes each test's requirement ids
into its JUnit XML properties. The JUnit file is the evidence: it is parsed here
and attached to the report unchanged.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import ebr
from validation.errors import QualificationError
from validation.pytest_plugin import NODEID_PROPERTY, REQUIREMENT_PROPERTY

# Set in the OQ's pytest process, so a test of `ebr validate` cannot start the full OQ again.
ACTIVE_ENV = "EBR_OQ_ACTIVE"
DEFAULT_TIMEOUT = 3600
EXIT_MEANINGS = {
    1: "some tests failed",
    2: "the run was interrupted",
    3: "pytest hit an internal error",
    4: "pytest was called wrongly",
    5: "no requirement-tagged test was collected",
}


@dataclass(frozen=True)
class CaseResult:
    """One test of the OQ: its node id, the requirements it proves and its result."""

    nodeid: str
    requirements: tuple[str, ...]
    outcome: str  # passed | failed | error | skipped
    message: str
    seconds: str

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"


@dataclass(frozen=True)
class OqResult:
    """The OQ run: command, exit status, every test outcome, and problems outside single tests."""

    command: tuple[str, ...]
    exit_code: int
    tests: tuple[CaseResult, ...]
    problems: tuple[str, ...]
    junit_xml: str
    pattern: str | None
    output_tail: str

    @property
    def passed(self) -> bool:
        return not self.problems and all(t.outcome in {"passed", "skipped"} for t in self.tests)


def default_tests_dir() -> Path:
    """The test suite shipped with the source next to the installed code."""
    return Path(ebr.__file__).resolve().parents[1] / "tests"


def pytest_command(tests_dir: Path, junit: Path, pattern: str | None) -> list[str]:
    """The pytest invocation of the OQ (a subset when ``pattern`` is a ``-k`` expression)."""
    command = [sys.executable, "-m", "pytest", str(tests_dir), "-m", "requirement"]
    command += ["-p", "validation.pytest_plugin", "-p", "no:cacheprovider", f"--junitxml={junit}"]
    # A broken test module is a deviation to report, not a reason to stop every other test.
    command += ["--continue-on-collection-errors", "-q", "-o", "junit_logging=no"]
    if pattern:
        command += ["-k", pattern]
    return command


def _first_line(text: str | None, limit: int = 300) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _outcome(case: ElementTree.Element) -> tuple[str, str]:
    for tag, outcome in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
        found = case.find(tag)
        if found is not None:
            return outcome, _first_line(found.get("message") or found.text)
    return "passed", ""


def parse_junit(xml_text: str) -> tuple[list[CaseResult], list[str]]:
    """Test outcomes and collection problems from the OQ's JUnit XML."""
    # The file was written a moment ago by our own pytest process, not received from outside.
    root = ElementTree.fromstring(xml_text)  # noqa: S314
    tests: list[CaseResult] = []
    problems: list[str] = []
    for case in root.iter("testcase"):
        props = [(p.get("name"), p.get("value") or "") for p in case.iter("property")]
        nodeids = [value for name, value in props if name == NODEID_PROPERTY]
        outcome, message = _outcome(case)
        if not nodeids:
            where = ".".join(x for x in (case.get("classname"), case.get("name")) if x)
            problems.append(f"collection error in {where}: {message or outcome}")
            continue
        reqs = tuple(dict.fromkeys(value for name, value in props if name == REQUIREMENT_PROPERTY))
        tests.append(CaseResult(nodeids[0], reqs, outcome, message, case.get("time") or "0"))
    return tests, problems


def _test_environment() -> dict[str, str]:
    """The environment without the installation's ``EBR_*`` settings (``EBR_TEST_*`` stay).

    The tests build their own databases and directories; inheriting the production
    settings could point a test's command at the real data directory or database.
    """
    return {k: v for k, v in os.environ.items() if not k.startswith("EBR_") or k.startswith("EBR_TEST_")}


def _guard(tests_dir: Path) -> None:
    if os.environ.get(ACTIVE_ENV) and tests_dir.resolve() == default_tests_dir().resolve():
        raise QualificationError(
            "refusing to start the full OQ from inside an OQ run; tests of `ebr validate` must use their own test tree"
        )
    if not tests_dir.is_dir():
        raise QualificationError(
            f"test suite {tests_dir} not found; install from the source distribution or pass --tests DIR"
        )


def run_oq(tests_dir: Path | None = None, *, pattern: str | None = None, timeout: int = DEFAULT_TIMEOUT) -> OqResult:
    """Run the requirement-tagged tests in ``tests_dir`` (default: the shipped suite) and collect results.

    Raises QualificationError when the suite is missing or the call would recurse.
    """
    tests_dir = (tests_dir or default_tests_dir()).resolve()
    _guard(tests_dir)
    env = {**_test_environment(), ACTIVE_ENV: "1"}
    with tempfile.TemporaryDirectory(prefix="ebr-oq-") as scratch:
        junit = Path(scratch) / "oq-junit.xml"
        command = pytest_command(tests_dir, junit, pattern)
        try:
            # Our own interpreter running pytest on a path we resolved: no shell, no user-built command.
            done = subprocess.run(  # noqa: S603
                command, cwd=tests_dir.parent, env=env, capture_output=True, text=True, timeout=timeout, check=False
            )
            exit_code, output = done.returncode, done.stdout + done.stderr
        except subprocess.TimeoutExpired:
            exit_code, output = -1, f"the OQ did not finish within {timeout} s"
        xml_text = junit.read_text(encoding="utf-8") if junit.exists() else ""
    tests, problems = parse_junit(xml_text) if xml_text else ([], ["pytest wrote no JUnit XML"])
    tail = "\n".join(output.strip().splitlines()[-15:])
    failed = any(t.outcome in {"failed", "error"} for t in tests)
    if exit_code not in (0, 1) or (exit_code == 1 and not failed and not problems):
        last = tail.splitlines()[-1] if tail else ""
        problems.append(f"pytest exit status {exit_code}: {EXIT_MEANINGS.get(exit_code, 'it did not finish')}; {last}")
    return OqResult(tuple(command), exit_code, tuple(tests), tuple(problems), xml_text, pattern, tail)
