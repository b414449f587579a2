"""The liquid example in the browser against the plant simulator.

The operator starts the batch, checks the equipment, doses purified water (the
equipment runtime doses over OPC UA; the page shows the live quantity and trend)
and weighs paracetamol on the simulated Modbus scale, with a supervisor verifying;
the rest of the batch runs through the same engine (``ebr.demo_batch``); QA reviews
it by exception and the auditor finds and exports it.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ebr import audit_service, demo
from ebr.bootstrap import Services, build_services
from ebr.config import Settings
from ebr.db import unit_of_work
from ebr.demo_batch import LiquidBatch, SkippingClock
from ebr.execution.service import build
from tests.support.browser import LiveServer, screenshot
from tests.support.plant import RuntimeHandle, SimulatorHandle, start_runtime, start_simulator

pytestmark = pytest.mark.slow
PEOPLE = {"performed": "olga", "verified": "sam", "witnessed": "sam", "reviewed": "quinn", "approved": "queenie"}


@pytest.fixture
def backend() -> str:
    return "postgresql"  # the production database; the manual e2e runs on SQLite


@pytest.fixture
def clock() -> SkippingClock:
    return SkippingClock(-dt.timedelta(hours=2))


@pytest.fixture
def services(settings: Settings, clock: SkippingClock) -> Iterator[Services]:
    # The whole installation runs on a clock that can skip the example's 30-minute holds.
    built = build_services(settings, clock=clock)
    yield built
    built.close()


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[SimulatorHandle]:
    try:
        handle = start_simulator(tmp_path)
    except (OSError, RuntimeError) as exc:
        pytest.fail(f"the plant simulator did not start: {exc}")
    with handle:
        yield handle


@pytest.fixture
def plant(services: Services, simulator: SimulatorHandle) -> Iterator[RuntimeHandle]:
    audit_service.ensure_system_key(services)
    demo.create_people(services)
    demo.register_plant(services, simulator.config_path)
    demo.receive_materials(build(services))(services)
    demo.approve_examples(services)
    with start_runtime(services, simulator.config_path) as runtime:
        runtime.wait_connected()
        yield runtime


def log_in(tab: Any, user_id: str) -> None:
    tab.goto("/auth/login")
    tab.get_by_label("User id").fill(user_id)
    tab.get_by_label("Password").fill(demo.PASSWORD)
    tab.get_by_role("button", name="Log in").click()
    tab.wait_for_load_state()


def sign(tab: Any, path: str, signers: dict[str, str]) -> None:
    tab.get_by_role("button", name=f"Complete and sign step {path}").click()
    dialog = tab.get_by_role("dialog", name=f"Sign step {path}")
    for meaning, user in signers.items():
        dialog.get_by_label(f"User id ({meaning})").fill(user)
        dialog.get_by_label(f"Password ({meaning})").fill(demo.PASSWORD)
    dialog.get_by_role("button", name="Sign and complete").click()
    done = tab.get_by_role("status").filter(has_text="Step completed and signed.")
    refused = tab.locator("#work [role=alert]")
    done.or_(refused).first.wait_for()
    assert refused.count() == 0, refused.first.inner_text()


def start(tab: Any, path: str) -> None:
    tab.get_by_role("button", name=f"Start step {path}").click()
    tab.get_by_role("button", name=f"Complete and sign step {path}").wait_for()


@pytest.mark.requirement("URS-BAT-001", "URS-BAT-004", "URS-BAT-008", "URS-EQP-002", "URS-QA-001")
def test_a_liquid_batch_is_dosed_and_weighed_in_the_browser_against_the_simulator(
    page: Any, chromium: Any, live_server: LiveServer, services: Services, plant: RuntimeHandle,
    simulator: SimulatorHandle, clock: SkippingClock, tmp_path: Path,
) -> None:  # fmt: skip
    execution = build(services)
    with unit_of_work(services.session_factory) as session:
        number = execution.create_batch(
            session, actor="sam", recipe="PCM-SOL-24", version=None, size="1000", order="PO-E2E-1"
        ).number
    with unit_of_work(services.session_factory) as session:
        execution.release_to_floor(session, actor="sam", ref=number)

    log_in(page, "olga")
    page.get_by_role("link", name=f"Open batch {number}").click()
    page.get_by_role("button", name=f"Start batch {number}").click()
    for path in ("UP1.OP1.PH1", "UP1.OP1.PH2"):
        start(page, path)
        sign(page, path, {"performed": "olga"})
    start(page, "UP1.OP1.PH3")
    sign(page, "UP1.OP1.PH3", {"performed": "olga", "verified": "sam"})

    start(page, "UP1.OP2.PH1")  # dosing: the runtime doses 750 L from T-100 into R-101
    live = page.get_by_role("region", name="Live dosing into R-101")
    live.get_by_text("complete", exact=True).wait_for(timeout=120_000)
    live.get_by_role("img", name="Trend of the dosed quantity").wait_for()
    screenshot(page, "liquid-dosing")
    sign(page, "UP1.OP2.PH1", {"performed": "olga"})
    start(page, "UP1.OP2.PH2")
    page.get_by_label("Temperature of the charge (°C)").fill("24.5")
    page.get_by_role("button", name="Record value").click()
    page.get_by_role("status").filter(has_text="Recorded.").wait_for()
    sign(page, "UP1.OP2.PH2", {"performed": "olga"})

    start(page, "UP1.OP3.PH1")  # weigh paracetamol on SC-01 (Modbus), potency-adjusted target
    page.get_by_label("Scan the container barcode").fill("C-RM-PCM-1")
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Tare the scale").wait_for()
    simulator.place_weight(0.85)
    page.wait_for_timeout(1500)
    page.get_by_role("button", name="Tare the scale").click()
    page.get_by_role("button", name="Take the weight").wait_for()
    target = float(page.get_by_role("definition").filter(has_text="calculated").first.inner_text().split()[0])
    simulator.place_weight(0.85 + target)
    page.wait_for_timeout(1500)
    screenshot(page, "liquid-weighing")
    page.get_by_role("button", name="Take the weight").click()
    # "Recorded." is still on screen from the tare: wait for the weighing to be gone instead.
    page.get_by_role("button", name="Take the weight").wait_for(state="detached")
    sign(page, "UP1.OP3.PH1", {"performed": "olga", "verified": "sam"})
    simulator.place_weight(0.0)

    runner = LiquidBatch(
        services, execution, password=demo.PASSWORD, people=PEOPLE, place_weight=simulator.place_weight, clock=clock
    )
    runner.finish(number)
    with services.session_factory() as session:
        assert execution.batch(session, number).status == "complete"

    log_in(page, "quinn")
    page.goto(f"/review/batches/{number}")
    page.get_by_role("heading", name=f"Review of batch {number}").wait_for()
    screenshot(page, "liquid-qa-review")
    for button in ("Sign as reviewed", f"Release batch {number}"):
        form = page.locator("form", has=page.get_by_role("button", name=button))
        form.get_by_label("Password").fill(demo.PASSWORD)
        form.get_by_role("button", name=button).click()
        page.wait_for_load_state()
    page.get_by_text(f"Batch {number}: released.").wait_for()

    log_in(page, "alex")
    page.goto(f"/audit/?entity_type=batch&entity_id={number}")
    page.get_by_role("cell", name="batch.completed").wait_for()
    with page.expect_download() as download:
        page.get_by_role("link", name=f"Download the bundle of batch {number}").click()
    bundle = tmp_path / "liquid.zip"
    download.value.save_as(bundle)
    with zipfile.ZipFile(bundle) as archive:
        assert "manifest.json" in archive.namelist()
