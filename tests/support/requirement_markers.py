"""The check that every requirement id a test names is defined (validation/requirements.yaml).

Its own small module so that a pytest run can load it without the whole project's fixtures
(tests/unit/validation/test_requirement_markers.py runs it in a fresh pytest process).
"""

from __future__ import annotations

import pytest

from validation.requirements import load_requirements


def refuse_undefined_requirements(items: list[pytest.Item]) -> None:
    """Refuse to run (UsageError naming each test and id) when a test names an undefined requirement id."""
    known = load_requirements()
    bad = []
    for item in items:
        for marker in item.iter_markers("requirement"):
            for req_id in marker.args:
                if req_id not in known:
                    bad.append(f"{item.nodeid}: {req_id}")
    if bad:
        raise pytest.UsageError(
            "tests name requirement ids not defined in validation/requirements.yaml:\n  " + "\n  ".join(bad)
        )
