"""Every requirement a test names must be defined in validation/requirements.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from validation.requirements import load_requirements, unknown_ids

pytest_plugins = ["pytester"]
ROOT = Path(__file__).parents[3]


@pytest.mark.requirement("URS-SYS-009")
def test_an_undefined_requirement_id_stops_the_run(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from tests.conftest import pytest_collection_modifyitems  # noqa: F401\n"
    )
    pytester.makeini("[pytest]\naddopts = --strict-markers\nmarkers =\n    requirement(id): traced\n")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.requirement("URS-NOPE-999")
        def test_something():
            pass
        """
    )
    result = pytester.runpytest_subprocess()
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*URS-NOPE-999*"])


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
