"""Browser fixtures for the end-to-end tests (see tests/support/browser.py) and a released manual batch."""

from __future__ import annotations

import os

import pytest

from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.execution.service import build
from ebr.trail import services as audit_service
from tests.integration.execution.conftest import PASSWORD, SIMPLE, make_people, make_plant, recipe
from tests.support.browser import chromium, live_server, page  # noqa: F401 - fixtures used by the e2e tests


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """End-to-end tests drive real processes, servers and a browser on 2 shared cores: one
    retry absorbs a timing hiccup, and pytest reports every rerun (`R`), so flakiness stays
    visible instead of hidden. Unit and integration tests get no retry."""
    if os.environ.get("EBR_TEST_NO_RERUN"):  # to see a flaky test's first failure
        return
    for item in items:
        if "tests/e2e/" in item.nodeid:
            item.add_marker(pytest.mark.flaky(reruns=1, reruns_delay=2))


@pytest.fixture
def released_batch(services: Services) -> str:
    audit_service.ensure_system_key(services)  # as `ebr init` does: checkpoints sign the exported bundles
    make_people(services)
    with unit_of_work(services.session_factory) as session:
        services.users.create(
            session, actor="system:test", user_id="alex", full_name="Alex Auditor", roles=["auditor"],
            password=PASSWORD, must_change=False,
        )  # fmt: skip
    make_plant(services, {"R-101": "unit"})
    execution = build(services)
    with unit_of_work(services.session_factory) as session:
        batch = execution.create_from_recipe(
            session, actor="sam", master=recipe(SIMPLE), version="1", size="100", order="PO-4711"
        )
        number = batch.number
    with unit_of_work(services.session_factory) as session:
        execution.release_to_floor(session, actor="sam", ref=number)
    return number
