"""Every requirement a test names must be defined in validation/requirements.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from validation.requirements import load_requirements, unknown_ids

pytest_plugins = ["pytester"]
ROOT = Path(__file__).parents[3]


@pytest.mark.requirement("URS-SYS-009")
def test_an_undefined_requirement_id_stops_the_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    # A real pytest run in its own process, with the check the project's conftest runs; only that
    # module is loaded (not the project's fixtures, which import the whole application: ~40 s).
    pytester.makeconftest(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from tests.support.requirement_markers import refuse_undefined_requirements\n"
        "def pytest_collection_modifyitems(config, items):\n"
        "    refuse_undefined_requirements(items)\n"
    )
    pytester.makeini("[pytest]\naddopts = --strict-markers\nmarkers =\n    requirement(id): traced\n")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.requirement("URS-NOPE-999")
        def test_something():
            pass

        @pytest.mark.requirement("URS-AUD-001")
        def test_defined():
            pass
        """
    )
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # the installed plugins are not under test
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_something: URS-NOPE-999*"])
    assert "URS-AUD-001" not in result.stderr.str()
    result.assert_outcomes()  # nothing ran


class _Marked:
    """The part of a collected test the check reads: its id and its requirement markers."""

    nodeid = "tests/test_x.py::test_x"

    def iter_markers(self, name: str) -> list[pytest.Mark]:
        return [pytest.mark.requirement("URS-NOPE-998").mark] if name == "requirement" else []


def test_the_project_conftest_runs_that_check(pytestconfig: pytest.Config) -> None:
    # The check above is the one this suite runs at collection (already imported here: no cost).
    import tests.conftest as project

    with pytest.raises(pytest.UsageError, match=r"tests/test_x\.py::test_x: URS-NOPE-998"):
        project.pytest_collection_modifyitems(pytestconfig, [_Marked()])  # type: ignore[list-item]


@pytest.mark.requirement("URS-SYS-009")
def test_the_requirements_file_loads_and_knows_its_ids() -> None:
    known = load_requirements()
    assert "URS-AUD-001" in known
    assert unknown_ids({"URS-AUD-001", "URS-NOPE-1"}, known) == {"URS-NOPE-1"}
    for req in known.values():
        assert req.clauses, f"{req.id} names no regulation clause"


def test_a_duplicate_id_is_refused() -> None:
    text = "requirements:\n" + "  - {id: A, text: t, clauses: [x], risk: low, area: a}\n" * 2
    with pytest.raises(ValueError, match="defined twice"):
        load_requirements(text)
