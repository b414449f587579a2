"""A recipe authored in the browser at tablet size: upload, edit a limit, sign it authored, approve it.

The author uploads the liquid example, raises a limit of the formula in the draft's
form, and signs the draft "authored"; the approver, in another browser, sees the
procedure chart (an SVG drawn by Graphviz) and signs "approved". Nothing goes
through the project's Python but the users the administrator would have made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ebr.bootstrap import Services
from tests.integration.authoring.support import PASSWORD, add_people
from tests.support.browser import LiveServer, screenshot

pytestmark = pytest.mark.slow
EXAMPLE = Path(__file__).resolve().parents[2] / "recipes" / "examples" / "paracetamol-oral-solution.yaml"


@pytest.fixture
def backend() -> str:
    return "sqlite"  # one backend drives the browser; the services are proven on both elsewhere


def tab_for(chromium: Any, server: LiveServer, user_id: str) -> Any:
    context = chromium.new_context(viewport={"width": 1024, "height": 768}, base_url=server.url)
    context.set_default_timeout(15_000)
    tab = context.new_page()
    tab.goto("/auth/login")
    tab.get_by_label("User id").fill(user_id)
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Log in").click()
    tab.wait_for_load_state()
    return tab


def chart_is_drawn(tab: Any) -> None:
    chart = tab.locator("img#sfc")
    chart.scroll_into_view_if_needed()
    tab.wait_for_function(
        "() => { const i = document.querySelector('img#sfc'); return i && i.complete && i.naturalWidth > 0 }"
    )
    assert chart.bounding_box()["width"] > 100


@pytest.mark.requirement("URS-REC-020")
@pytest.mark.requirement("URS-REC-021")
def test_a_recipe_is_uploaded_edited_submitted_and_approved_in_the_browser(
    services: Services, chromium: Any, live_server: LiveServer
) -> None:
    add_people(services, {"anna": ["recipe_author"], "paul": ["recipe_approver"]})
    author = tab_for(chromium, live_server, "anna")
    author.goto("/recipes/")
    author.get_by_role("link", name="Upload a recipe").click()
    author.get_by_label("Recipe file").set_input_files(str(EXAMPLE))
    author.get_by_role("button", name="Check and upload").click()
    author.wait_for_url("**/recipes/PCM-SOL-24@1")
    chart_is_drawn(author)

    author.get_by_role("link", name="Edit the draft").click()
    author.get_by_label("water_charge high").fill("765")
    author.get_by_label("Why (kept in the audit trail)").fill("DR-115: wider charge range")
    author.get_by_role("button", name="Save the draft").click()
    author.wait_for_url("**/recipes/PCM-SOL-24@1")
    assert "765" in author.locator("main").inner_text()

    author.locator("#sub-sig-password").fill(PASSWORD)
    author.get_by_role("button", name="Sign as authored and send for review").click()
    author.wait_for_load_state()
    assert "in review" in author.locator("main").inner_text()

    approver = tab_for(chromium, live_server, "paul")
    approver.goto("/recipes/PCM-SOL-24@1")
    chart_is_drawn(approver)
    approver.locator("#ap-sig-password").fill(PASSWORD)
    approver.get_by_role("button", name="Sign as approved").click()
    approver.wait_for_load_state()
    assert "approved" in approver.locator("main").inner_text()
    screenshot(approver, "recipe-approved-with-chart")
    with services.session_factory() as session:
        row, recipe = services.recipes.get(session, "PCM-SOL-24@1")
        assert row.status == "approved"
        assert str(recipe.formula.get("water_charge").high) == "765"  # type: ignore[union-attr]
