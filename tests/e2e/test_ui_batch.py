"""A batch executed through the browser: operator, supervisor, QA and auditor, as users see it.

Elements are found by role and accessible name. Screenshots of the main pages go to
``var/test-artifacts/screenshots/``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.execution.service import build
from tests.integration.execution.conftest import PASSWORD
from tests.support.browser import LiveServer, screenshot

pytestmark = pytest.mark.slow


@pytest.fixture
def backend() -> str:
    # One backend is enough to drive the browser; the services below are proven on both elsewhere.
    return "sqlite"


def log_in(tab: Any, user_id: str) -> None:
    tab.goto("/auth/login")
    tab.get_by_label("User id").fill(user_id)
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Log in").click()
    tab.wait_for_load_state()


def new_tab(chromium: Any, server: LiveServer, user_id: str) -> Any:
    context = chromium.new_context(viewport={"width": 1024, "height": 768}, base_url=server.url)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    log_in(tab, user_id)
    return tab


def sign(tab: Any, path: str, signers: dict[str, str]) -> None:
    """Open the step's signing dialog, give each meaning's credentials, sign."""
    tab.get_by_role("button", name=f"Complete and sign step {path}").click()
    dialog = tab.get_by_role("dialog", name=f"Sign step {path}")
    for meaning, user in signers.items():
        dialog.get_by_label(f"User id ({meaning})").fill(user)
        dialog.get_by_label(f"Password ({meaning})").fill(PASSWORD)
    dialog.get_by_role("button", name="Sign and complete").click()


def start(tab: Any, path: str) -> None:
    tab.get_by_role("button", name=f"Start step {path}").click()
    tab.get_by_role("button", name=f"Complete and sign step {path}").wait_for()


def expect_state(tab: Any, path: str, state: str) -> None:
    steps = tab.get_by_role("navigation", name="Steps of")
    steps.get_by_role("listitem").filter(has_text=path).get_by_text(state, exact=True).wait_for()


@pytest.mark.requirement("URS-BAT-002", "URS-BAT-008", "URS-BAT-003")
def test_an_operator_and_a_supervisor_execute_a_batch_in_the_browser(
    page: Any, chromium: Any, live_server: LiveServer, released_batch: str
) -> None:
    number = released_batch
    log_in(page, "olga")
    screenshot(page, "worklist")
    page.get_by_role("link", name=f"Open batch {number}").click()
    page.get_by_role("button", name=f"Start batch {number}").click()
    start(page, "UP1.OP1.PH1")
    screenshot(page, "execution-step")
    sign(page, "UP1.OP1.PH1", {"performed": "olga"})
    expect_state(page, "UP1.OP1.PH1", "complete")

    start(page, "UP1.OP1.PH2")
    page.get_by_role("button", name="Complete and sign step UP1.OP1.PH2").click()
    screenshot(page, "signing-dialog")
    page.get_by_role("button", name="Cancel").click()
    # The second person signs "verified" in the same dialog, at the operator's tablet.
    sign(page, "UP1.OP1.PH2", {"performed": "olga", "verified": "sam"})
    expect_state(page, "UP1.OP1.PH2", "complete")

    start(page, "UP1.OP1.PH3")
    page.get_by_label("Temperature (°C)").fill("35")
    page.get_by_role("button", name="Record value").click()
    # Nothing is stored yet: the operator chooses between re-entering and a deviation.
    page.get_by_role("alert").filter(has_text="Re-enter the value if it was a typing error").wait_for()
    screenshot(page, "execution-out-of-limits-question")
    page.get_by_role("button", name="Record 35 °C as a deviation").click()
    page.get_by_role("alert").filter(has_text="a supervisor must comment and sign").wait_for()
    screenshot(page, "execution-deviation")

    supervisor = new_tab(chromium, live_server, "sam")
    supervisor.get_by_role("link", name="Verification queue").click()
    screenshot(supervisor, "verification-queue")
    supervisor.get_by_role("table", name="Open deviations").get_by_role("link").first.click()
    supervisor.get_by_label("Comment (your assessment)").fill("Room was warm; product not affected.")
    supervisor.get_by_label("Password").fill(PASSWORD)
    supervisor.get_by_role("button", name="Sign deviation").click()
    supervisor.get_by_text("signed (verified)").wait_for()
    screenshot(supervisor, "deviation-signed")

    page.reload()
    sign(page, "UP1.OP1.PH3", {"performed": "olga"})
    expect_state(page, "UP1.OP1.PH3", "complete")
    start(page, "UP1.OP2.PH1")
    page.get_by_label("Sample id (scan the label)").fill("S-0001")
    page.keyboard.press("Enter")  # a barcode scanner types the code and Enter
    page.get_by_role("status").filter(has_text="Recorded.").wait_for()
    sign(page, "UP1.OP2.PH1", {"performed": "olga"})
    start(page, "UP1.OP2.PH2")
    sign(page, "UP1.OP2.PH2", {"performed": "olga"})
    start(page, "UP1.OP2.PH3")
    # The verifier is not at the tablet: the operator completes and the supervisor verifies later.
    sign(page, "UP1.OP2.PH3", {"performed": "olga"})
    page.get_by_role("status").filter(has_text="waits in the verification queue").wait_for()
    page.get_by_text("complete", exact=True).first.wait_for()
    supervisor.goto("/review/verification")
    verify = supervisor.get_by_role("form", name=f"Verify step UP1.OP2.PH3 of batch {number}")
    verify.get_by_text("UP1.OP2.PH3 Done").wait_for()
    screenshot(supervisor, "verification-later")
    verify.get_by_label("Password").fill(PASSWORD)
    verify.get_by_role("button", name=f"Verify step UP1.OP2.PH3 of batch {number}").click()
    supervisor.get_by_role("status").filter(has_text=f"Step UP1.OP2.PH3 of batch {number} verified.").wait_for()
    supervisor.get_by_text("No completed step waits for verification.").wait_for()
    page.goto(f"/batches/{number}")
    screenshot(page, "batch-complete")
    assert "complete" in page.get_by_role("definition").filter(has_text="complete").first.inner_text()


@pytest.mark.requirement("URS-QA-001", "URS-AUD-007")
def test_qa_reviews_by_exception_and_releases_and_the_auditor_finds_and_exports_the_batch(
    page: Any, chromium: Any, live_server: LiveServer, released_batch: str, services: Services, tmp_path: Any
) -> None:
    number = released_batch
    run_with_a_deviation(services, number)

    log_in(page, "quinn")
    page.get_by_role("link", name="QA review").click()
    page.get_by_role("link", name=f"Review batch {number}").click()
    exceptions = page.get_by_role("list", name=f"Exceptions of batch {number}")
    exceptions.get_by_text("out of limits", exact=True).wait_for()
    assert "Temperature: value = 35 °C" in exceptions.inner_text()
    assert "Room was warm" in exceptions.inner_text()  # the deviation with its comment, in context
    assert "Reactor ready" not in page.content()  # what went as prescribed is not listed
    screenshot(page, "qa-review")
    review = page.locator("form", has=page.get_by_role("button", name="Sign as reviewed"))
    review.get_by_label("Password").fill(PASSWORD)
    review.get_by_role("button", name="Sign as reviewed").click()
    page.get_by_text(f"Batch {number}: reviewed.").wait_for()
    dispose_exceptions(page, number)
    release = page.locator("form", has=page.get_by_role("button", name=f"Release batch {number}"))
    release.get_by_label("Password").fill(PASSWORD)
    release.get_by_role("button", name=f"Release batch {number}").click()
    page.get_by_text(f"Batch {number}: released.").wait_for()
    screenshot(page, "qa-released")

    auditor = new_tab(chromium, live_server, "alex")
    auditor.get_by_role("link", name="Audit trail").click()
    auditor.get_by_label("Record type").fill("batch")
    auditor.get_by_label("Record id").fill(number)
    auditor.get_by_role("button", name="Search").click()
    auditor.get_by_role("cell", name="batch.started").wait_for()
    screenshot(auditor, "audit-search")
    with auditor.expect_download() as download:
        auditor.get_by_role("link", name=f"Download the bundle of batch {number}").click()
    bundle = tmp_path / "bundle.zip"
    download.value.save_as(bundle)
    import zipfile

    with zipfile.ZipFile(bundle) as archive:
        assert "manifest.json" in archive.namelist()
    auditor.set_viewport_size({"width": 390, "height": 844})
    screenshot(auditor, "audit-search-phone")


def dispose_exceptions(page: Any, number: str) -> None:
    """QA comments on every exception of the review page (release needs a disposition for each)."""
    exceptions = page.get_by_role("list", name=f"Exceptions of batch {number}")
    for _ in range(exceptions.get_by_role("button").count()):
        form = page.locator("form", has=page.get_by_role("button", name=re.compile(r"^Record disposition"))).first
        form.get_by_role("textbox").fill("Assessed: product not affected.")
        form.get_by_role("button").click()
        page.get_by_text(f"Batch {number}: disposition recorded.").wait_for()


def run_with_a_deviation(services: Services, number: str) -> None:
    """The manual batch run through the services (the browser run is the test above)."""
    from ebr.materials.services import Credentials

    ex = build(services)

    def sig(user: str, meaning: str = "performed") -> Credentials:
        return Credentials(user_id=user, password=PASSWORD, meaning=meaning)

    def work(fn: Any, **kwargs: Any) -> Any:
        with unit_of_work(services.session_factory) as session:
            return fn(session, **kwargs)

    work(ex.start_batch, actor="olga", ref=number)
    for path, values, signers in (
        ("UP1.OP1.PH1", None, [sig("olga")]),
        ("UP1.OP1.PH2", None, [sig("olga"), sig("sam", "verified")]),
        ("UP1.OP1.PH3", {"value": "35"}, [sig("olga")]),
    ):
        work(ex.start_step, actor="olga", ref=number, path=path)
        work(ex.complete_step, actor="olga", ref=number, path=path, values=values, signatures=signers)
    with services.session_factory() as session:
        from ebr.execution import deviations

        dev = deviations.for_batch(session, ex.batch(session, number))[0].number
    work(ex.handle_deviation, actor="sam", ref=dev, comment="Room was warm; product not affected.",
         signature=sig("sam", "verified"))  # fmt: skip
    work(ex.complete_step, actor="olga", ref=number, path="UP1.OP1.PH3", signatures=[sig("olga")])
    for path, values, signers in (
        ("UP1.OP2.PH1", {"sample_id": "S-1"}, [sig("olga")]),
        ("UP1.OP2.PH2", None, [sig("olga")]),
        ("UP1.OP2.PH3", None, [sig("olga"), sig("sue", "verified")]),
    ):
        work(ex.start_step, actor="olga", ref=number, path=path)
        work(ex.complete_step, actor="olga", ref=number, path=path, values=values, signatures=signers)
