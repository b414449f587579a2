"""axe-core (vendored from npm, tests/support/vendor/axe-core-4.14.1) on the pages of this issue's work:
no serious or critical accessibility violation, at tablet and phone size."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ebr.bootstrap import Services
from tests.e2e.test_ui_batch import log_in
from tests.e2e.test_ui_review_cases import SIZES, out_of_spec, stopped_batch
from tests.integration.execution.conftest import Floor, make_people, make_plant
from tests.integration.execution.test_samples import sampled
from tests.support.browser import LiveServer

AXE = Path(__file__).resolve().parents[1] / "support" / "vendor" / "axe-core-4.14.1" / "axe.min.js"


@pytest.fixture(params=list(SIZES))
def browser_context(request: pytest.FixtureRequest, chromium: Any, live_server: LiveServer) -> Iterator[Any]:
    # axe is injected as a script: the scan context bypasses our CSP, the pages are the same.
    context = chromium.new_context(viewport=SIZES[request.param], base_url=live_server.url, bypass_csp=True)
    context.set_default_timeout(10_000)
    yield context
    context.close()


def serious(tab: Any) -> list[str]:
    tab.add_script_tag(path=str(AXE))
    result = tab.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.requirement("URS-QA-004")
def test_the_review_samples_and_execution_pages_have_no_serious_accessibility_violation(
    browser_context: Any, services: Services
) -> None:
    make_people(services)
    make_plant(services, {"R-101": "unit", "SC-01": "scale"})
    stopped = stopped_batch(services)
    oos = out_of_spec(services)
    from ebr.execution.service import build

    waiting = sampled(Floor(services, build(services)), "S-AXE", order="PO-AXE")
    pages = {
        "quinn": ["/review/qa", f"/review/batches/{stopped}", f"/review/batches/{oos}", "/samples/", "/records/"],
        "olga": [f"/batches/{waiting}", "/batches/"],
        "sam": [f"/batches/{waiting}", "/review/verification"],
    }
    found: dict[str, list[str]] = {}
    for user, urls in pages.items():
        tab = browser_context.new_page()
        log_in(tab, user)
        for url in urls:
            tab.goto(url)
            problems = serious(tab)
            if problems:
                found[f"{user} {url}"] = problems
        tab.close()
    assert found == {}, found
