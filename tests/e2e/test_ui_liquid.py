"""The whole liquid example in the browser, against the plant simulator.

Every step of a PCM-SOL-24 batch is worked on the tablet page as people on the
floor would: the operator starts each step, checks equipment, reads the
instruction, types values, scans a sample label, watches the equipment runtime
dose purified water over OPC UA (live quantity and trend), weighs on the
simulated Modbus scale (scan, tare, weigh) and signs in the dialog, with the
supervisor signing as verifier where the recipe asks. Timed holds are waited for
on the installation's clock, which skips ahead (and, as half an hour without a
click would, the operator's session ends and she logs in again). QA then reviews
the batch by exception and releases it; the auditor finds it and downloads its
bundle. Nothing goes through the engine in code: the test only reads which step
comes next and what kind it is.
"""

from __future__ import annotations

import datetime as dt
import re
import time
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ebr import demo
from ebr.bootstrap import Services, build_services
from ebr.core.config import Settings
from ebr.core.db import unit_of_work
from ebr.demo_batch import ANSWERS, QC_RESULTS, TARE_KG, LiquidBatch, SkippingClock
from ebr.execution import rules
from ebr.execution.service import Execution, build
from ebr.trail import services as audit_service
from equipment.commands import runtime_status
from recipes.phases import DataEntry, Dosing, Sample, SignOff, TimedHold, WeighDispense
from tests.e2e.operator_effort import Counted, Effort, measured, write
from tests.e2e.test_ui_batch import dispose_exceptions
from tests.support.browser import SCREENSHOTS, LiveServer, screenshot
from tests.support.plant import RuntimeHandle, SimulatorHandle, start_runtime, start_simulator

pytestmark = pytest.mark.slow
OPERATOR, SUPERVISOR = "olga", "sam"


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


ARTIFACTS = SCREENSHOTS.parent


class Tablet:
    """The operator's tablet: one batch, worked step by step through the page."""

    def __init__(
        self, page: Any, services: Services, execution: Execution, simulator: SimulatorHandle, clock: SkippingClock
    ) -> None:
        self.effort = Effort()
        # Every click and keystroke the script makes is counted per step (the benchmark below).
        page = Counted(page, self.effort)
        self.page, self.services, self.ex, self.sim, self.clock = page, services, execution, simulator, clock
        # Only to ask which step is next and what kind it is, as the operator reads it on the screen.
        self.plan = LiquidBatch(
            services, execution, password=demo.PASSWORD, people={"performed": OPERATOR, "verified": SUPERVISOR,
            "reviewed": "quinn", "approved": "queenie"}, place_weight=simulator.place_weight, clock=clock,
        )  # fmt: skip
        self.holds = 0

    def open(self, number: str) -> None:
        self.page.goto("/worklist/")
        self.page.get_by_role("link", name=f"Open batch {number}").click()

    def run(self, number: str) -> list[str]:
        self.open(number)
        self.page.get_by_role("button", name=f"Start batch {number}").click()
        done: list[str] = []
        for _ in range(80):  # a bound: the example has fewer than 40 phase executions
            ready = self.plan.ready(number)
            if not ready:
                return done
            self.step(number, ready[0])
            done.append(ready[0])
        raise AssertionError(f"batch {number} did not finish in 80 steps: {done}")

    def article(self, path: str) -> Any:
        # The heading reads "Name UP1.OP2.PH1 state": the step's words first, its code beside them.
        return self.page.get_by_role("article", name=re.compile(rf"(^| ){re.escape(path)} "))

    def step(self, number: str, path: str) -> None:
        self.effort.current = path
        with self.services.session_factory() as session:
            phase = self.ex.ctx.plan(session, self.ex.batch(session, number)).phase(path)
        params = phase.params
        self.page.get_by_role("button", name=f"Start step {path}").click()
        self.page.get_by_role("button", name=f"Complete and sign step {path}").wait_for()
        if isinstance(params, Dosing):
            self.dose(path, params)
        elif isinstance(params, WeighDispense):
            self.weigh(path, params)
        elif isinstance(params, TimedHold):
            self.hold(number, path, params)
        elif isinstance(params, Sample):
            self.scan_sample(path)
        elif isinstance(params, DataEntry):
            self.enter(path, params)
        meanings = params.meanings if isinstance(params, SignOff) else phase.signatures
        self.sign(path, {m: OPERATOR if m == "performed" else SUPERVISOR for m in meanings})

    def record(self, path: str, button: str) -> None:
        step = self.article(path)
        step.get_by_role("button", name=button).click()
        step.get_by_role("status").filter(has_text="Recorded.").wait_for()

    def enter(self, path: str, params: DataEntry) -> None:
        value = ANSWERS[path]["value"]
        field = self.article(path).get_by_label(params.prompt)
        if params.kind.value == "choice":
            field.select_option(value)
        else:
            field.fill(value)
        self.record(path, "Record value")

    def scan_sample(self, path: str) -> None:
        self.article(path).get_by_label("Sample id (scan the label)").fill(ANSWERS[path]["sample_id"])
        self.page.keyboard.press("Enter")  # the scanner types the code and Enter
        # A scan right after the step started may beat htmx to the new form: then the browser
        # posts it plainly and the whole page comes back with the same message.
        self.page.get_by_role("status").filter(has_text="Recorded.").first.wait_for()
        # QC enters the results the step waits for (the Samples page itself is tested in
        # tests/integration/execution/test_samples.py); the panel shows them after a refresh.
        for test, value in QC_RESULTS.get(path, {}).items():
            with unit_of_work(self.services.session_factory) as session:
                self.ex.enter_sample_result(
                    session, actor="quinn", ref=ANSWERS[path]["sample_id"], test=test, value=value
                )

    def dose(self, path: str, params: Dosing) -> None:
        live = self.page.get_by_role("region", name=f"Live dosing into {params.destination}")
        live.get_by_text("complete", exact=True).wait_for(timeout=120_000)
        live.get_by_role("img", name="Trend of the dosed quantity").wait_for()
        screenshot(self.page, f"liquid-dosing-{path}")

    def weigh(self, path: str, params: WeighDispense) -> None:
        step = self.article(path)
        step.get_by_label("Scan the container barcode").fill(f"C-{params.material}-1")
        self.page.keyboard.press("Enter")
        step.get_by_role("button", name="Tare the scale").wait_for()
        self.sim.place_weight(float(TARE_KG))
        time.sleep(1.5)  # the scale reports stable once the weight stops changing
        self.record(path, "Tare the scale")
        target = Decimal(step.get_by_role("definition").filter(has_text="calculated").first.inner_text().split()[0])
        self.sim.place_weight(float(TARE_KG + target))
        time.sleep(1.5)
        screenshot(self.page, f"liquid-weighing-{path}")
        step.get_by_role("button", name="Take the weight").click()
        step.get_by_role("button", name="Take the weight").wait_for(state="detached")
        self.sim.place_weight(0.0)

    def hold(self, number: str, path: str, params: TimedHold) -> None:
        self.article(path).get_by_role("timer").wait_for()
        if not self.holds:  # once: signing before the minimum time is refused, on screen
            self.sign(path, {"performed": OPERATOR}, refused="completing early is refused")
        self.holds += 1
        self.clock.skip(rules.hold_seconds(Decimal(str(params.min_duration)), params.unit))
        # Until the runtime beats again its last heartbeat looks that old (the clock moved):
        # wait for it, or the next dosing would rightly be refused as uncertain.
        deadline = time.monotonic() + 30
        while not self.runtime_alive():
            assert time.monotonic() < deadline, "the runtime's heartbeat did not come back after the clock moved"
            time.sleep(0.25)
        # Half an hour without a click ends the session (idle timeout): the operator logs in again
        # on the page the reload shows, which brings her back to the batch.
        self.page.reload()
        self.page.get_by_label("User id").fill(OPERATOR)
        self.page.get_by_label("Password").fill(demo.PASSWORD)
        self.page.get_by_role("button", name="Log in").click()
        self.page.get_by_role("heading", name=re.compile(rf"^Batch {re.escape(number)} ")).wait_for()

    def runtime_alive(self) -> bool:
        with self.services.session_factory() as session:
            return runtime_status(session, now=self.services.clock.now()).connected

    def sign(self, path: str, signers: dict[str, str], refused: str | None = None) -> None:
        self.page.get_by_role("button", name=f"Complete and sign step {path}").click()
        dialog = self.page.get_by_role("dialog", name=f"Sign step {path}")
        for meaning, user in signers.items():
            dialog.get_by_label(f"User id ({meaning})").fill(user)
            dialog.get_by_label(f"Password ({meaning})").fill(demo.PASSWORD)
        dialog.get_by_role("button", name="Sign and complete").click()
        done = self.page.get_by_role("status").filter(has_text="Step completed and signed.")
        alert = self.page.locator("#work [role=alert]")
        done.or_(alert).first.wait_for()
        if refused is None:
            assert alert.count() == 0, alert.first.inner_text()
        else:
            assert refused in alert.first.inner_text(), alert.first.inner_text()


@pytest.mark.requirement("URS-BAT-001", "URS-BAT-004", "URS-BAT-008", "URS-EQP-002", "URS-QA-001")
def test_a_whole_liquid_batch_is_executed_in_the_browser_against_the_simulator(
    page: Any, chromium: Any, live_server: LiveServer, services: Services, plant: RuntimeHandle,
    simulator: SimulatorHandle, clock: SkippingClock, tmp_path: Path,
) -> None:  # fmt: skip
    execution = build(services)
    log_in(page, SUPERVISOR)  # the supervisor creates the batch and releases it to the floor
    page.get_by_role("navigation").get_by_role("link", name="Batches", exact=True).click()
    page.get_by_role("form", name="New batch").wait_for()  # a form people and role queries find
    page.get_by_label("Recipe (approved, effective)").select_option("PCM-SOL-24")
    page.get_by_label("Batch size").fill("1000")
    page.get_by_label("Production order").fill("PO-E2E-1")
    page.get_by_role("button", name="Create and release to the floor").click()
    created = page.get_by_role("status").filter(has_text="created and released to the floor")
    number = re.search(r"Batch (\S+) created", created.inner_text()).group(1)  # type: ignore[union-attr]

    log_in(page, OPERATOR)
    tablet = Tablet(page, services, execution, simulator, clock)
    with measured(tablet.effort):
        done = tablet.run(number)
    # Benchmark: the operator's clicks and keystrokes and the server's time per step (holds skipped).
    print("\n" + write(tablet.effort, ARTIFACTS / "operator-effort.txt"))
    assert {"UP1.OP2.PH1", "UP1.OP3.PH1", "UP1.OP3.PH5", "UP1.OP5.PH1", "UP2.OP2.PH2"} <= set(done)
    assert tablet.holds == 2  # pH 5.1 is in range: no adjustment loop
    with services.session_factory() as session:
        assert execution.batch(session, number).status == "complete"
    page.locator("#batch-status .badge-ok").get_by_text("complete", exact=True).wait_for()  # the header follows
    screenshot(page, "liquid-complete")

    log_in(page, "quinn")
    page.goto(f"/review/batches/{number}")
    page.get_by_role("heading", name=f"Review of batch {number}").wait_for()
    screenshot(page, "liquid-qa-review")
    for button in ("Sign as reviewed", f"Release batch {number}"):
        if button.startswith("Release"):
            dispose_exceptions(page, number)  # e.g. the assay result, which has no specification
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
