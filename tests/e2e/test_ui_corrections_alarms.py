"""In the browser: an operator corrects a recorded value through its signing dialog, and acknowledges an alarm.

Elements are found by role and accessible name; screenshots go to ``var/test-artifacts/screenshots/``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.execution.service import build
from equipment.models import Alarm
from tests.e2e.test_ui_accessibility import AUDIT_SCRIPT
from tests.integration.execution.conftest import PASSWORD, sig
from tests.support.browser import LiveServer, screenshot

pytestmark = pytest.mark.slow

PATH = "UP1.OP1.PH3"


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the services are proven on both databases in tests/integration/web


def log_in(tab: Any, user_id: str) -> None:
    tab.goto("/auth/login")
    tab.get_by_label("User id").fill(user_id)
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Log in").click()
    tab.wait_for_load_state()


def record_temperature(services: Services, number: str) -> None:
    """Through the engine: the first steps done, the temperature step running with 21.5 °C."""
    ex = build(services)

    def work(fn: Any, **kwargs: Any) -> Any:
        with unit_of_work(services.session_factory) as session:
            return fn(session, **kwargs)

    work(ex.start_batch, actor="olga", ref=number)
    for path, signers in (("UP1.OP1.PH1", [sig("olga")]), ("UP1.OP1.PH2", [sig("olga"), sig("sam", "verified")])):
        work(ex.start_step, actor="olga", ref=number, path=path)
        work(ex.complete_step, actor="olga", ref=number, path=path, signatures=signers)
    work(ex.start_step, actor="olga", ref=number, path=PATH)
    work(ex.record, actor="olga", ref=number, path=PATH, values={"value": "21.5"})


def trip(services: Services) -> int:
    """A high-high level trip on R-101, as the equipment runtime records it."""
    with unit_of_work(services.session_factory) as session:
        alarm = Alarm(
            at=services.clock.now() - dt.timedelta(minutes=1), unit="R-101", phase_ref=None,
            condition="level_high_high", tag="R-101.level", value="1795", message="inlet closed at high-high level",
        )  # fmt: skip
        session.add(alarm)
        session.flush()
        return alarm.id


@pytest.mark.requirement("URS-BAT-005", "URS-EQP-003", "URS-SEC-007")
def test_an_operator_corrects_a_value_in_its_dialog_and_acknowledges_an_alarm(
    page: Any, live_server: LiveServer, released_batch: str, services: Services
) -> None:
    number = released_batch
    record_temperature(services, number)
    log_in(page, "olga")
    page.goto(f"/batches/{number}")

    page.get_by_role("button", name=f"Correct value of step {PATH}").click()
    dialog = page.get_by_role("dialog", name=f"Correct value of step {PATH}")
    dialog.get_by_label("New value (°C)").fill("22.5")
    dialog.get_by_label("Reason for the correction").fill("Typo: the display showed 22.5")
    dialog.get_by_label("Password").fill(PASSWORD)
    signed = dialog.locator(".signing-what")
    assert "21.5" in signed.inner_text()
    assert "22.5" in signed.inner_text()  # what is signed repeats the new value as it is typed
    assert "Typo: the display showed 22.5" in signed.inner_text()
    assert page.evaluate(AUDIT_SCRIPT) == []  # named, big enough for a gloved finger
    screenshot(page, "correction-dialog")
    dialog.get_by_role("button", name="Sign correction").click()

    page.get_by_role("status").filter(has_text="corrected: 21.5 → 22.5 °C").wait_for()
    panel = page.get_by_role("article", name=PATH)
    assert panel.locator("del").inner_text().strip() == "21.5 °C"
    assert "corrected by olga" in panel.inner_text()
    assert page.evaluate(AUDIT_SCRIPT) == []
    screenshot(page, "correction-done")
    page.get_by_role("link", name=f"Temperature {PATH}").first.click()
    original = page.get_by_role("table", name=f"Values recorded on step {PATH}").get_by_role("row").nth(1)
    assert original.get_by_role("deletion").inner_text().strip() == "21.5 °C"  # struck through, still there
    assert "replaced by 22.5 °C" in original.inner_text()
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate(AUDIT_SCRIPT) == []  # the step page on a phone: nothing scrolls sideways
    screenshot(page, "correction-step-page-phone")
    page.set_viewport_size({"width": 1024, "height": 768})

    alarm = trip(services)
    page.goto("/equipment/")
    page.get_by_role("link", name="Alarms: 1 to acknowledge").click()
    page.get_by_label(f"Comment on alarm {alarm}").fill("Inflow from line 2; valve V-7 closed and tagged.")
    assert page.evaluate(AUDIT_SCRIPT) == []
    screenshot(page, "alarms-open")
    page.get_by_role("button", name=f"Acknowledge alarm {alarm} (level high high) on R-101").click()
    page.get_by_role("status").filter(has_text=f"Alarm {alarm} (level high high on R-101) acknowledged.").wait_for()
    row = page.get_by_role("row").filter(has_text="valve V-7 closed")
    assert "olga" in row.inner_text()
    assert page.get_by_text("No open alarms.").is_visible()
    screenshot(page, "alarm-acknowledged")
