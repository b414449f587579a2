"""At tablet size: a supervisor records a calibration and a training in the browser; an untrained
operator is refused at the first step with the missing curriculum named."""

from __future__ import annotations

from typing import Any

import pytest

from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.training.services import build
from tests.e2e.test_ui_batch import log_in
from tests.integration.execution.conftest import PASSWORD
from tests.support.browser import LiveServer, screenshot

pytestmark = pytest.mark.slow
CURRICULUM = "Reactor R-101"


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def curriculum(services: Services, released_batch: str) -> str:
    with unit_of_work(services.session_factory) as session:
        build(services).add_curriculum(session, actor="quinn", name=CURRICULUM, sops=["SOP-R101-01"], validity_days=365)
    return released_batch


@pytest.mark.requirement("URS-EQP-020", "URS-EQP-021")
def test_a_supervisor_records_a_failed_calibration_on_the_tablet(
    page: Any, live_server: LiveServer, released_batch: str
) -> None:
    log_in(page, "sam")
    page.goto("/equipment/R-101")
    page.get_by_role("link", name="Logbook, calibration and maintenance").click()
    page.get_by_role("link", name="Record a calibration").click()
    page.get_by_label("Failed").check()
    page.get_by_label("As found (readings before adjustment)").fill("23.9 °C at 20.0 °C")
    page.get_by_label("Certificate reference").fill("CAL-2026-114")
    page.get_by_label("Performed by (user id, or the contractor's name; empty: you, sam)").fill("Acme Metrology")
    page.get_by_label("Performed by a contractor").check()
    page.get_by_label("Password", exact=True).fill(PASSWORD)  # signed "calibrated"
    page.get_by_role("button", name="Record calibration").click()
    page.get_by_role("heading", name="Calibration of R-101: FAILED").wait_for()
    page.get_by_role(
        "heading", name="Impact assessment: batches that used R-101 since its last passing calibration"
    ).wait_for()
    assert "Acme Metrology (contractor)" in page.content()
    screenshot(page, "calibration-failed")
    page.get_by_role("link", name="← Logbook of R-101").click()
    assert "calibration FAILED by Acme Metrology (contractor)" in page.content()


@pytest.mark.requirement("URS-TRN-001", "URS-TRN-002")
def test_a_training_is_recorded_on_the_tablet_and_an_untrained_operator_is_refused(
    page: Any, chromium: Any, live_server: LiveServer, curriculum: str, services: Services
) -> None:
    number = curriculum
    log_in(page, "quinn")
    page.goto("/training/")
    page.get_by_label("Required by").select_option("phase_type")
    page.get_by_label("Phase type, recipe name or equipment tag").fill("equipment_check")
    page.get_by_label("Only on unit (phase type only; optional)").fill("R-101")
    page.get_by_role("button", name="Add requirement").click()
    page.get_by_text("Requirement added.").wait_for()

    log_in(page, "sam")
    page.get_by_role("link", name="Training").first.click()
    page.get_by_role("link", name="Record a training").click()
    page.get_by_label("Trainee (user id)").fill("olga")
    page.get_by_label("Trainee's user id").fill("olga")
    page.get_by_label("Trainee's password").fill(PASSWORD)
    page.get_by_role("button", name="Record and sign").click()
    page.get_by_role("heading", name="Training of Olga Operator (olga)").wait_for()
    assert f"curriculum '{CURRICULUM}' valid until" in page.inner_text("main")
    screenshot(page, "training-recorded")

    context = chromium.new_context(viewport={"width": 1024, "height": 768}, base_url=live_server.url)
    context.set_default_timeout(10_000)
    otto = context.new_page()
    try:
        log_in(otto, "otto")
        otto.get_by_role("link", name=f"Open batch {number}").click()
        otto.get_by_role("button", name=f"Start batch {number}").click()
        otto.get_by_role("button", name="Start step UP1.OP1.PH1").click()
        otto.get_by_text(
            f"otto is not qualified for phase type equipment_check on R-101: curriculum '{CURRICULUM}' missing"
        ).first.wait_for()
        screenshot(otto, "training-refused")
    finally:
        context.close()


@pytest.mark.requirement("URS-EQP-022", "URS-TRN-004")
def test_the_calibration_logbook_and_training_pages_have_no_serious_accessibility_violation(
    chromium: Any, live_server: LiveServer, curriculum: str, services: Services
) -> None:
    from tests.e2e.test_ui_axe import serious

    with unit_of_work(services.session_factory) as session:
        failed = services.equipment.record_calibration(session, actor="sam", unit="R-101", passed=False)
        record_id = failed.id
    pages = [
        "/equipment/R-101/logbook", "/equipment/R-101/logbook?print=1", "/equipment/R-101/calibrations/new",
        f"/equipment/R-101/calibrations/{record_id}", "/equipment/R-101/maintenance/new", "/training/",
        "/training/matrix", "/training/records/new", "/training/people/olga",
    ]  # fmt: skip
    found: dict[str, list[str]] = {}
    for size in ({"width": 1024, "height": 768}, {"width": 390, "height": 844}):
        context = chromium.new_context(viewport=size, base_url=live_server.url, bypass_csp=True)
        context.set_default_timeout(10_000)
        try:
            tab = context.new_page()
            log_in(tab, "quinn")
            for url in pages:
                tab.goto(url)
                problems = serious(tab)
                if problems:
                    found[f"{size['width']} {url}"] = problems
        finally:
            context.close()
    assert found == {}, found
