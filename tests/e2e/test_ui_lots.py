"""At tablet size, with gloves: QA adds a material, receives a lot into containers, prints
the labels (a PDF whose text carries each container's barcode), releases the lot with a
signature, and the genealogy page draws the lot's trace."""

from __future__ import annotations

import datetime as dt
import subprocess
from decimal import Decimal
from typing import Any

import pytest

from tests.e2e.test_ui_axe import serious
from tests.e2e.test_ui_batch import log_in
from tests.e2e.test_ui_review_cases import no_sideways_scroll
from tests.integration.execution.conftest import PASSWORD, Floor, floor, make_lot  # noqa: F401 - the fixture
from tests.support.browser import TABLET, screenshot

GLOVE_TARGET_PX = 44


def pdf_text(data: bytes) -> str:
    return subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True).stdout.decode()


@pytest.mark.requirement("URS-MAT-009")
def test_qa_receives_a_lot_prints_its_labels_and_releases_it_on_a_tablet(page: Any, floor: Floor) -> None:  # noqa: F811
    log_in(page, "quinn")
    page.goto("/materials/")
    page.get_by_label("Code", exact=True).fill("RM-T")
    page.get_by_label("Name", exact=True).fill("Tablet excipient")
    page.get_by_label("Unit (kg, g, L …)").fill("kg")
    page.get_by_label("Storage conditions").fill("15-25 °C")
    page.get_by_role("button", name="Add material").click()
    page.get_by_text("Material RM-T added to the master.").wait_for()

    page.goto("/lots/")
    expiry = floor.services.clock.now().date() + dt.timedelta(days=500)
    page.get_by_label("Material", exact=True).select_option("RM-T")
    page.get_by_label("Our lot number").fill("T-1")
    page.get_by_label("Supplier", exact=True).fill("Acme")
    page.get_by_label("Supplier's lot number").fill("AC-1")
    page.get_by_label("Number of containers").fill("3")
    page.get_by_label("Quantity per container").fill("20")
    page.get_by_label("Expiry date", exact=True).fill(expiry.isoformat())
    receive = page.get_by_role("button", name="Receive lot")
    assert receive.bounding_box()["height"] >= GLOVE_TARGET_PX
    receive.click()
    page.get_by_text("Lot T-1 received in quarantine").wait_for()
    no_sideways_scroll(page)

    link = page.get_by_role("link", name="Print labels (PDF)")
    assert link.bounding_box()["height"] >= GLOVE_TARGET_PX
    labels = page.request.get(link.get_attribute("href"))
    assert labels.headers["content-type"] == "application/pdf"
    body = labels.body()
    assert len(body) > 1000
    text = pdf_text(body)
    for barcode in ("T-1-001", "T-1-002", "T-1-003"):
        assert barcode in text

    page.get_by_label("Reason (e.g. CoA and identity test reference)").fill("CoA AC-1 checked, identity OK")
    page.locator("#d-sig-password").fill(PASSWORD)
    page.get_by_label("Release").check()
    release = page.get_by_role("button", name="Sign decision on lot T-1")
    assert release.bounding_box()["height"] >= GLOVE_TARGET_PX
    release.click()
    page.wait_for_load_state()
    assert "Lot T-1: release signed." in page.inner_text("body"), page.inner_text("body")[:1500]
    assert page.locator("#lot-status").inner_text() == "released"
    screenshot(page, "lot-released")

    mats = floor.execution.materials
    floor.work(mats.consume, actor="olga", batch_id="b-1", step_path="P", barcode="T-1-001", quantity=Decimal("5"))
    floor.work(
        mats.record_output, actor="olga", batch_id="b-1", number="FG-T", product="FG", quantity=Decimal("5"), unit="kg"
    )
    page.get_by_role("link", name="Genealogy").last.click()
    graph = page.locator("#trace-graph")
    graph.wait_for()
    page.wait_for_function("document.getElementById('trace-graph').naturalWidth > 0")
    assert page.get_by_role("cell", name="FG-T").count() >= 1
    no_sideways_scroll(page)
    screenshot(page, "genealogy")


@pytest.mark.requirement("URS-MAT-002")
def test_the_materials_lots_and_genealogy_pages_have_no_serious_accessibility_violation(
    chromium: Any,
    live_server: Any,
    floor: Floor,  # noqa: F811
) -> None:
    make_lot(floor, "RM-A", "A-1", "10")
    context = chromium.new_context(viewport=TABLET, base_url=live_server.url, bypass_csp=True)
    context.set_default_timeout(10_000)
    try:
        tab = context.new_page()
        log_in(tab, "quinn")
        found = {}
        for url in ("/materials/", "/lots/", "/lots/A-1", "/genealogy/", "/genealogy/lot/A-1"):
            tab.goto(url)
            found[url] = serious(tab)
        assert all(not v for v in found.values()), found
    finally:
        context.close()
