"""pytest plugin loaded by the OQ (``-p validation.pytest_plugin``).

It writes each test's requirement ids and node id into the test's JUnit XML
``<properties>``, so the JUnit file alone traces results to requirements.
(``-m requirement`` selects tests carrying the marker, but not by id.)
"""

from __future__ import annotations

import pytest

REQUIREMENT_PROPERTY = "requirement"
NODEID_PROPERTY = "nodeid"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Attach ``requirement`` and ``nodeid`` user properties to every collected test."""
    for item in items:
        item.user_properties.append((NODEID_PROPERTY, item.nodeid))
        for marker in item.iter_markers(REQUIREMENT_PROPERTY):
            for req_id in marker.args:
                item.user_properties.append((REQUIREMENT_PROPERTY, str(req_id)))
