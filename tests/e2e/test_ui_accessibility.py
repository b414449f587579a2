"""Tablet first, with gloves: every control has an accessible name and a touch target of at least 44 px,
the pages fit 1024×768 and a phone without sideways scrolling of the page, times carry the plant's zone,
and the security headers forbid inline script.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.execution.conftest import PASSWORD
from tests.support.browser import PHONE, TABLET, LiveServer, screenshot

pytestmark = pytest.mark.slow

# Controls without an accessible name, or smaller than a gloved finger (44 CSS px).
AUDIT_SCRIPT = """() => {
  const bad = [];
  const controls = document.querySelectorAll(
    'input:not([type=hidden]), select, textarea, button, a.button, .nav a, summary');
  for (const el of controls) {
    if (el.closest('dialog:not([open])') || el.closest('[hidden]')) continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    const labelled = el.labels && el.labels.length > 0;
    const name = (el.getAttribute('aria-label') || el.textContent || '').trim();
    if (!labelled && !name && !el.closest('label')) bad.push('no name: ' + el.outerHTML.slice(0, 80));
    const small = el.type === 'checkbox' || el.type === 'radio' ? box.height < 24 : box.height < 44;
    if (small) bad.push('small (' + Math.round(box.height) + ' px): ' + el.outerHTML.slice(0, 80));
  }
  if (document.documentElement.scrollWidth > window.innerWidth + 1) bad.push('page scrolls sideways');
  return bad;
}"""

PAGES = {
    "olga": ["/worklist/", "/batches/", "/equipment/", "/recipes/"],
    "sam": ["/review/verification"],
    "quinn": ["/review/qa"],
    "alex": ["/audit/"],
}


@pytest.fixture
def backend() -> str:
    return "sqlite"


def log_in(tab: Any, user_id: str) -> None:
    tab.goto("/auth/login")
    tab.get_by_label("User id").fill(user_id)
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Log in").click()
    tab.wait_for_load_state()


@pytest.mark.requirement("URS-SEC-007")
@pytest.mark.parametrize("viewport", [TABLET, PHONE], ids=["tablet", "phone"])
def test_every_control_is_named_and_big_enough_on_tablet_and_phone(
    chromium: Any, live_server: LiveServer, released_batch: str, viewport: dict[str, int]
) -> None:
    problems = []
    for user, paths in PAGES.items():
        context = chromium.new_context(viewport=viewport, base_url=live_server.url)
        tab = context.new_page()
        log_in(tab, user)
        for path in [*paths, f"/batches/{released_batch}"]:
            response = tab.goto(path)
            assert response is not None
            assert response.status in (200, 403), f"{path}: {response.status}"
            if response.status == 403:
                continue
            problems += [f"{user} {path}: {p}" for p in tab.evaluate(AUDIT_SCRIPT)]
            label = "tablet" if viewport == TABLET else "phone"
            screenshot(tab, f"{label}-{user}-{path.strip('/').replace('/', '-') or 'home'}")
        context.close()
    assert problems == []


@pytest.mark.requirement("URS-SEC-007")
def test_pages_forbid_inline_script_and_show_times_with_the_plant_zone(page: Any, released_batch: str) -> None:
    log_in(page, "olga")
    response = page.goto(f"/batches/{released_batch}")
    assert response is not None
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert page.locator("script:not([src])").count() == 0
    assert page.locator("[style]").count() == 0
    assert "(UTC)" in page.get_by_role("banner").inner_text()


def test_a_lost_connection_is_shown_at_once_and_cleared_when_it_is_back(page: Any, released_batch: str) -> None:
    log_in(page, "olga")
    page.goto(f"/batches/{released_batch}")
    banner = page.get_by_role("alert").filter(has_text="Connection to the server lost")
    assert banner.is_hidden()
    page.context.set_offline(True)
    banner.wait_for()
    screenshot(page, "connection-lost")
    page.context.set_offline(False)
    banner.wait_for(state="hidden")


@pytest.mark.requirement("URS-SEC-005")
def test_the_idle_warning_appears_before_the_session_ends(page: Any, released_batch: str) -> None:
    log_in(page, "olga")
    page.goto("/worklist/")
    assert page.locator("body").get_attribute("data-idle-seconds") == str(15 * 60)
    # Pretend the last activity was 14.5 minutes ago: the warning must show, with a way to stay.
    page.evaluate("document.body.setAttribute('data-idle-seconds', '30')")
    warning = page.get_by_role("alert").filter(has_text="signed out in less than a minute")
    warning.wait_for()
    page.get_by_role("button", name="Stay signed in").wait_for()
    # At the limit the browser ends the session itself (live streams would keep it alive otherwise).
    page.evaluate("document.body.setAttribute('data-idle-seconds', '1')")
    page.wait_for_url("**/auth/login**")
    page.get_by_text("You are signed out.").wait_for()
