"""Reading the OQ's JUnit XML, and the guard against running the OQ from inside itself."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from validation.errors import QualificationError
from validation.oq import ACTIVE_ENV, default_tests_dir, parse_junit, pytest_command, run_oq

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="4">
 <testcase classname="t" name="test_ok" time="0.010">
  <properties><property name="nodeid" value="t.py::test_ok"/><property name="requirement" value="R-1"/>
  <property name="requirement" value="R-2"/><property name="requirement" value="R-1"/></properties></testcase>
 <testcase classname="t" name="test_bad" time="0.020">
  <properties><property name="nodeid" value="t.py::test_bad"/><property name="requirement" value="R-1"/></properties>
  <failure message="assert 2 == 1">long traceback</failure></testcase>
 <testcase classname="t" name="test_skip" time="0">
  <properties><property name="nodeid" value="t.py::test_skip"/><property name="requirement" value="R-2"/></properties>
  <skipped message="PostgreSQL is not available"/></testcase>
 <testcase classname="" name="tests.test_broken" time="0">
  <error message="collection failure">ImportError: no module named nope</error></testcase>
</testsuite></testsuites>"""


@pytest.mark.requirement("URS-VAL-001")
def test_junit_results_are_mapped_back_to_requirements_and_collection_errors_reported() -> None:
    tests, problems = parse_junit(JUNIT)
    assert [(t.nodeid, t.requirements, t.outcome) for t in tests] == [
        ("t.py::test_ok", ("R-1", "R-2"), "passed"),
        ("t.py::test_bad", ("R-1",), "failed"),
        ("t.py::test_skip", ("R-2",), "skipped"),
    ]
    assert tests[1].message == "assert 2 == 1"
    assert tests[2].message == "PostgreSQL is not available"
    assert problems == ["collection error in tests.test_broken: collection failure"]


def test_the_oq_selects_requirement_tests_with_the_tracing_plugin_and_an_optional_subset(tmp_path: Path) -> None:
    command = pytest_command(tmp_path, tmp_path / "j.xml", "signature and not ldap")
    pairs = list(itertools.pairwise(command))
    assert ("-m", "requirement") in pairs
    assert ("-p", "validation.pytest_plugin") in pairs
    assert f"--junitxml={tmp_path / 'j.xml'}" in command
    assert command[-2:] == ["-k", "signature and not ldap"]


@pytest.mark.requirement("URS-VAL-001")
def test_the_full_oq_refuses_to_start_from_inside_an_oq_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ACTIVE_ENV, "1")
    with pytest.raises(QualificationError, match="from inside an OQ run"):
        run_oq(default_tests_dir())


def test_a_missing_test_suite_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ACTIVE_ENV, raising=False)
    with pytest.raises(QualificationError, match="--tests DIR"):
        run_oq(tmp_path / "nowhere")


@pytest.mark.requirement("URS-VAL-001")
def test_the_oq_runs_without_the_installations_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EBR_DATABASE_URL", "postgresql+psycopg://prod@plant-db/ebr")
    monkeypatch.setenv("EBR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@test-db/test")
    (tmp_path / "tests").mkdir()
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    requirement(id): traced\n")
    (tmp_path / "tests" / "test_env.py").write_text(
        "import os\nimport pytest\n\n"
        '@pytest.mark.requirement("R-1")\n'
        "def test_env():\n"
        '    assert "EBR_DATABASE_URL" not in os.environ\n'
        '    assert os.environ["EBR_TEST_POSTGRES_URL"].endswith("test-db/test")\n'
        '    assert os.environ["EBR_OQ_ACTIVE"] == "1"\n'
    )
    result = run_oq(tmp_path / "tests")
    assert [(t.nodeid, t.outcome, t.message) for t in result.tests] == [("tests/test_env.py::test_env", "passed", "")]
