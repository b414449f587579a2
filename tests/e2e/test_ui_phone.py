"""The operator's and the auditor's pages at phone size: active step first, htmx swaps without console
(CSP) errors, no sideways scrolling at 390 px."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ebr.bootstrap import Services
from tests.e2e.test_ui_batch import log_in
from tests.e2e.test_ui_review_cases import no_sideways_scroll
from tests.support.browser import LiveServer, screenshot

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(chromium: Any, live_server: LiveServer) -> Iterator[Any]:
    context = chromium.new_context(viewport=PHONE, base_url=live_server.url)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    tab.errors = []
    tab.on("console", lambda msg: msg.type == "error" and tab.errors.append(msg.text))
    tab.on("pageerror", lambda exc: tab.errors.append(str(exc)))
    yield tab
    context.close()


@pytest.mark.requirement("URS-BAT-002")
def test_an_operator_works_a_step_on_a_phone_without_console_errors(
    phone: Any, released_batch: str, services: Services
) -> None:
    number = released_batch
    log_in(phone, "olga")
    phone.goto(f"/batches/{number}")
    phone.get_by_role("button", name=f"Start batch {number}").click()
    phone.get_by_role("button", name="Start step UP1.OP1.PH1").click()  # an htmx swap
    phone.get_by_role("button", name="Complete and sign step UP1.OP1.PH1").wait_for()
    panel = phone.get_by_role("article", name="UP1.OP1.PH1")
    steps = phone.get_by_role("navigation", name=f"Steps of {number}")
    assert panel.bounding_box()["y"] < steps.bounding_box()["y"], "the active step comes before the step list"
    phone.get_by_text("0 of 6 steps complete").wait_for()
    no_sideways_scroll(phone)
    screenshot(phone, "phone-step")
    for url in ("/batches/", f"/batches/{number}/steps/UP1.OP1.PH1"):
        phone.goto(url)
        no_sideways_scroll(phone)
    assert phone.errors == [], phone.errors


def test_the_records_page_fits_a_phone(phone: Any, released_batch: str) -> None:
    log_in(phone, "quinn")
    phone.goto("/records/")
    phone.get_by_role("link", name=f"Record files of batch {released_batch}").wait_for()
    no_sideways_scroll(phone)
    assert phone.errors == [], phone.errors
