"""The analytics pages in Chromium: the chart image loads under the site's CSP, nothing inline,
and QA signs an assessment through the form."""

from __future__ import annotations

from typing import Any

import pytest

from ebr.analytics import services as analytics
from ebr.analytics.jobs import evaluate_released
from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from tests.integration.analytics.conftest import PARAMETER
from tests.integration.analytics.support import Plant
from tests.integration.execution.conftest import PASSWORD
from tests.support.browser import PHONE, chromium, live_server, page, screenshot  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow


@pytest.fixture
def backend() -> str:
    return "sqlite"


def _log_in(tab: Any, user_id: str) -> None:
    tab.goto("/auth/login")
    tab.get_by_label("User id").fill(user_id)
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Log in").click()
    tab.wait_for_load_state()


@pytest.mark.requirement("URS-CPV-001", "URS-CPV-002")
def test_qa_reads_the_chart_and_signs_the_assessment_in_the_browser(
    page: Any,  # noqa: F811 - the fixture imported above
    services: Services,
    plant: Plant,
) -> None:
    numbers = [plant.released_batch(v) for v in ("20.0", "20.4", "19.8", "20.2")]
    with unit_of_work(services.session_factory) as session:
        analytics.set_baseline(
            session, services.audit, actor="quinn", parameter_id=PARAMETER, batches=numbers, reason="PPQ"
        )
    outlier = plant.released_batch("25.0")
    evaluate_released(services, actor="system:scheduler")
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    _log_in(page, "quinn")
    page.get_by_role("link", name="Analytics").click()
    page.get_by_role("link", name=PARAMETER).click()
    image = page.get_by_role("img", name=f"Individuals and moving-range chart of {PARAMETER} over 5 batches")
    image.wait_for()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    assert page.locator("script:not([src])").count() == 0
    assert page.locator("[style]").count() == 0
    assert outlier in page.get_by_role("main").inner_text()
    screenshot(page, "analytics-parameter")
    page.goto("/analytics/notifications/TN-000001")
    page.get_by_label("Assessment").fill("Probe drift; recalibrated, the batch is not affected.")
    page.get_by_label("Conclusion").select_option("investigate")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign assessment of TN-000001").click()
    page.wait_for_load_state()
    assert "reviewed by quinn" in page.get_by_role("main").inner_text()
    assert blocked == []
    page.set_viewport_size(PHONE)
    page.goto(f"/analytics/parameters/{PARAMETER}")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
