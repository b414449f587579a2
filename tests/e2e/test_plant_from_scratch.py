"""A real plant from day one (issue 21), walked as a new user reads the README.

An EMPTY PostgreSQL database; `ebr init`; then only the documented CLI (run as
subprocesses with the environment variables the README names) and the browser
(Chromium at tablet size) against `ebr serve`, `ebr runtime` and the plant simulator:
the administrator adds the people and syncs the plant, the supervisor cleans and
calibrates the scale, QA keeps a curriculum and its requirement and the supervisor
records the operator's training (she signs it), QA receives the six materials' lots
(labels printed) and releases them, the author uploads the dispensing example at
/recipes/upload and the approver approves it, an untrained operator is refused at the
first step with the curriculum named, the trained operator weighs the whole batch on
the simulated scale, and QA reviews and releases it. The test never imports the
project: only test support that starts the simulator on free ports.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import CHROMIUM_ARGS, TABLET, screenshot
from tests.support.components import missing
from tests.support.databases import PostgresDatabases, postgres_reachable, postgres_server_url
from tests.support.plant import SimulatorHandle, free_port, start_simulator

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
EBR = str(ROOT / ".venv" / "bin" / "ebr") if (ROOT / ".venv" / "bin" / "ebr").exists() else "ebr"
EXAMPLE = ROOT / "recipes" / "examples" / "metformin-dispensing-campaign.yaml"
FIRST = "Day-One-pass-1"  # what the administrator hands out (must be changed at first login)
PASSWORD = "Plant-2026-strong!"  # what each person sets
ADMIN_PASSWORD = "Root-of-trust-2026!"
PEOPLE = {
    "sam": ("Sam Supervisor", "supervisor"),
    "quinn": ("Quinn QA", "qa"),
    "wendy": ("Wendy Warehouse", "qa"),  # goods receipt is QA's (lot.manage)
    "anna": ("Anna Author", "recipe_author"),
    "paul": ("Paul Approver", "recipe_approver"),
    "olga": ("Olga Operator", "operator"),
    "otto": ("Otto Operator", "operator"),
}
CURRICULUM = "Dispensing SC-01"
TARE_KG = 1.0
MATERIALS = {  # code: (name, quantity per container in kg) — the example's bill of materials
    "RM-MET": ("Metformin hydrochloride", "40"),
    "RM-MCC": ("Microcrystalline cellulose PH-102", "30"),
    "RM-PVP": ("Povidone K30", "5"),
    "RM-CCS": ("Croscarmellose sodium", "5"),
    "RM-SIO2": ("Colloidal silicon dioxide", "1"),
    "RM-MGST": ("Magnesium stearate", "1"),
}


class Plant:
    """The installation: its environment, the documented commands, the servers it runs."""

    def __init__(self, folder: Path, database_url: str, simulator: SimulatorHandle) -> None:
        self.folder, self.simulator = folder, simulator
        data = folder / "data"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("EBR_")} | {
            "EBR_DATABASE_URL": database_url,
            "EBR_SECRET_KEY": secrets.token_hex(32),
            "EBR_DATA_DIR": str(data),
            "EBR_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "EBR_EQUIPMENT_CONFIG": str(simulator.config_path),
        }
        self.servers: list[subprocess.Popen[str]] = []
        self.logs: list[Any] = []
        self.first: dict[str, str] = {}  # one-time passwords the administrator hands out
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def ebr(self, *args: str, stdin: str | None = None, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [EBR, *args], env=self.env, cwd=self.folder, input=stdin, capture_output=True, text=True, timeout=120
        )
        if ok:
            assert done.returncode == 0, f"ebr {' '.join(args)} → {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done

    def start(self, *args: str) -> subprocess.Popen[str]:
        log = open(self.folder / f"{args[0]}.log", "w")  # noqa: SIM115 - closed in stop()
        self.logs.append(log)
        process = subprocess.Popen(
            [EBR, *args], env=self.env, cwd=self.folder, stdout=log, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
        self.servers.append(process)
        return process

    def serve(self) -> None:
        process = self.start("serve", "--port", str(self.port))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, (self.folder / "serve.log").read_text()
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=3):  # noqa: S310 - loopback
                    return
            except urllib.error.HTTPError:
                return  # it answers (a part may still be red: the runtime starts next)
            except OSError:
                time.sleep(0.5)
        raise AssertionError("ebr serve did not answer in 60 s:\n" + (self.folder / "serve.log").read_text())

    def stop(self) -> None:
        for process in reversed(self.servers):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)
        for log in self.logs:
            log.close()


@pytest.fixture
def empty_postgres() -> Iterator[str]:
    server = postgres_server_url()
    if (reason := postgres_reachable(server)) is not None:
        missing("PostgreSQL", f"start it on 127.0.0.1:5432 or set EBR_TEST_POSTGRES_URL ({reason})")
    databases = PostgresDatabases(server)
    name = databases.create("ebr_fresh")
    try:
        yield databases.url_for(name)
    finally:
        databases.drop_all()


@pytest.fixture
def plant(tmp_path: Path, empty_postgres: str) -> Iterator[Plant]:
    try:
        simulator = start_simulator(tmp_path / "sim")
    except (OSError, RuntimeError) as exc:
        pytest.fail(f"the plant simulator did not start: {exc}")
    with simulator:
        installation = Plant(tmp_path, empty_postgres, simulator)
        try:
            yield installation
        finally:
            installation.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    if not os.path.exists("/usr/bin/chromium"):
        missing("Chromium", "install the Debian package 'chromium' (make test does it as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def tab_as(browser: Any, plant: Plant, user_id: str, password: str) -> Any:
    context = browser.new_context(viewport=TABLET, base_url=plant.url, accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/auth/login")
    page.get_by_label("User id").fill(user_id)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    return page


def tab(browser: Any, plant: Plant, user_id: str) -> Any:
    """A tablet logged in as USER_ID (a fresh browser context: one person per tablet)."""
    context = browser.new_context(viewport=TABLET, base_url=plant.url, accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/auth/login")
    page.get_by_label("User id").fill(user_id)
    first = plant.first.pop(user_id, None)
    page.get_by_label("Password").fill(first or PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    if first is not None:  # the first login: the one-time password is changed on the web
        page.get_by_role("heading", name="Change password").wait_for()
        page.get_by_label("Current password").fill(first)
        page.get_by_label("New password", exact=True).fill(PASSWORD)
        page.get_by_label("New password again").fill(PASSWORD)
        page.get_by_role("button", name="Change password").click()
        page.wait_for_load_state()
    assert "Signed in as" in page.content(), page.inner_text("body")[:800]
    page.goto("/auth/accountability")  # before the first signature: the accountability statement
    if page.get_by_role("button", name="Accept").count():
        page.get_by_role("checkbox").check()
        page.get_by_role("button", name="Accept").click()
        page.wait_for_load_state()
    return page


def close(page: Any) -> None:
    page.context.close()


@pytest.mark.requirement("URS-TRN-001", "URS-TRN-002", "URS-MAT-009", "URS-REC-020", "URS-REC-021")
def test_a_plant_from_an_empty_database_to_a_released_batch(plant: Plant, browser: Any) -> None:
    # --- the administrator: schema and first admin, people, the plant -------------------------
    init = plant.ebr("init")
    assert "admin" in init.stdout + init.stderr
    assert "schema at head" in plant.ebr("db", "current").stdout
    plant.serve()
    # One person on the command line (README "Users and signatures"), who changes the
    # one-time password with `ebr user password`; the others on the administrator's page.
    plant.ebr(
        "user", "add", "sam", "--name", PEOPLE["sam"][0], "--role", "supervisor", "--password-stdin",
        "--identity-checked", "badge seen by the administrator", stdin=FIRST + "\n",
    )  # fmt: skip
    plant.ebr("user", "password", "sam", "--password-stdin", stdin=f"{FIRST}\n{PASSWORD}\n")
    admin = tab_as(browser, plant, "admin", ADMIN_PASSWORD)
    admin.goto("/admin/users")
    for user_id, (name, role) in PEOPLE.items():
        if user_id == "sam":
            continue
        admin.get_by_label("User id").fill(user_id)
        admin.get_by_label("Full name (printed on every signature)").fill(name)
        admin.get_by_role("group", name="Roles").get_by_label(role.replace("_", " "), exact=True).check()
        admin.get_by_label("How you verified the person's identity").fill("badge and passport seen in person")
        admin.get_by_role("button", name="Create user").click()
        admin.wait_for_load_state()
        shown = re.search(
            rf"User {user_id} created. Temporary password \(shown once\): (\S+)", admin.inner_text("body")
        )
        assert shown, admin.inner_text("body")[:1500]
        plant.first[user_id] = shown.group(1)
    listed = plant.ebr("user", "list").stdout
    assert all(user_id in listed for user_id in PEOPLE), listed
    synced = plant.ebr("plant", "sync", "--actor", "admin")
    assert "SC-01" in synced.stdout, synced.stdout
    plant.start("runtime")
    close(admin)

    # --- the supervisor: the scale is cleaned and calibrated on its page ---------------------
    sam = tab(browser, plant, "sam")
    # The synced scale starts dirty: the floor records its cleaning on its page (equipment.clean).
    sam.goto("/equipment/SC-01")
    sam.get_by_label("Cleaning method or SOP").fill("SOP-CLN-07 dry wipe")
    sam.get_by_role("button", name="Record cleaning").click()
    sam.wait_for_load_state()
    sam.get_by_role("link", name="Logbook, calibration and maintenance").click()
    sam.get_by_role("link", name="Record a calibration").click()
    sam.get_by_label("Passed").check()
    sam.get_by_label("As found (readings before adjustment)").fill("20.002 kg at 20.000 kg")
    sam.get_by_label("As left (readings after adjustment)").fill("20.000 kg at 20.000 kg")
    sam.get_by_label("Certificate reference").fill("CAL-SC01-001")
    sam.get_by_label("Password", exact=True).fill(PASSWORD)  # signed "calibrated"
    sam.get_by_role("button", name="Record calibration").click()
    sam.get_by_role("heading", name="Calibration of SC-01: passed").wait_for()

    # --- QA: the curriculum and what requires it (CLI, as the README shows) -------------------
    quinn = tab(browser, plant, "quinn")  # her first login changes the one-time password
    plant.ebr(
        "training", "curriculum", "add", CURRICULUM, "--sop", "SOP-DSP-01", "--validity-days", "365",
        "--user", "quinn", "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    plant.ebr(
        "training", "requirement", "add", CURRICULUM, "--phase-type", "equipment_check", "--unit", "SC-01",
        "--user", "quinn", "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    # …the supervisor trains olga (she signs "trained" with her own password); otto is not trained.
    close(tab(browser, plant, "olga"))  # her first login: the one-time password is changed
    sam.goto("/training/")
    sam.get_by_role("link", name="Record a training").click()
    sam.get_by_label("Curriculum", exact=True).select_option(label=CURRICULUM)
    sam.get_by_label("Trainee (user id)").fill("olga")
    sam.get_by_label("Trainee's user id").fill("olga")
    sam.get_by_label("Trainee's password").fill(PASSWORD)
    sam.get_by_role("button", name="Record and sign").click()
    sam.wait_for_load_state()
    assert sam.get_by_role("heading", name="Training of Olga Operator (olga)").count(), sam.inner_text("main")
    assert f"curriculum '{CURRICULUM}' valid until" in sam.inner_text("main"), sam.inner_text("main")

    # --- the warehouse (QA): materials, goods receipt, labels; QA releases each lot ----------
    wendy = tab(browser, plant, "wendy")
    expiry = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=700)).isoformat()
    for code, (name, quantity) in MATERIALS.items():
        wendy.goto("/materials/")
        wendy.get_by_label("Code", exact=True).fill(code)
        wendy.get_by_label("Name", exact=True).fill(name)
        wendy.get_by_label("Unit (kg, g, L …)").fill("kg")
        if code == "RM-MET":
            wendy.get_by_label("Dispensed by potency (CoA assay)").check()
        wendy.get_by_role("button", name="Add material").click()
        wendy.get_by_text(f"Material {code} added to the master.").wait_for()
        wendy.goto("/lots/")
        wendy.get_by_label("Material", exact=True).select_option(code)
        wendy.get_by_label("Our lot number").fill(f"L-{code}")
        wendy.get_by_label("Supplier", exact=True).fill("Acme Pharma")
        wendy.get_by_label("Supplier's lot number").fill(f"AC-{code}")
        wendy.get_by_label("Number of containers").fill("1")
        wendy.get_by_label("Quantity per container").fill(quantity)
        wendy.get_by_label("Expiry date", exact=True).fill(expiry)
        if code == "RM-MET":
            wendy.get_by_label("Potency % (from the CoA, when the material is dispensed by potency)").fill("100.0")
        wendy.get_by_role("button", name="Receive lot").click()
        wendy.get_by_text(f"Lot L-{code} received in quarantine").wait_for()
        labels = wendy.request.get(wendy.get_by_role("link", name="Print labels (PDF)").get_attribute("href"))
        assert labels.headers["content-type"] == "application/pdf"
        assert labels.body().startswith(b"%PDF")
        assert len(labels.body()) > 1000
    close(wendy)
    for code in MATERIALS:
        quinn.goto(f"/lots/L-{code}")
        quinn.get_by_label("Reason (e.g. CoA and identity test reference)").fill(f"CoA AC-{code} checked")
        quinn.locator("#d-sig-password").fill(PASSWORD)
        quinn.get_by_label("Release").check()
        quinn.get_by_role("button", name=f"Sign decision on lot L-{code}").click()
        quinn.wait_for_load_state()
        assert f"Lot L-{code}: release signed." in quinn.inner_text("body"), quinn.inner_text("body")[:1500]

    # --- the author uploads the example; the approver approves it ----------------------------
    anna = tab(browser, plant, "anna")
    anna.goto("/recipes/")
    anna.get_by_role("link", name="Upload a recipe").click()
    anna.get_by_label("Recipe file").set_input_files(str(EXAMPLE))
    anna.get_by_role("button", name="Check and upload").click()
    anna.wait_for_url("**/recipes/MET-500-DISP@1")
    anna.locator("#sub-sig-password").fill(PASSWORD)
    anna.get_by_role("button", name="Sign as authored and send for review").click()
    anna.wait_for_load_state()
    assert "in review" in anna.locator("main").inner_text()
    close(anna)
    paul = tab(browser, plant, "paul")
    paul.goto("/recipes/MET-500-DISP@1")
    paul.locator("#ap-sig-password").fill(PASSWORD)
    paul.get_by_role("button", name="Sign as approved").click()
    paul.wait_for_load_state()
    assert "approved" in paul.locator("main").inner_text()
    close(paul)

    # --- the supervisor makes the batch and releases it to the floor -------------------------
    sam.get_by_role("navigation").get_by_role("link", name="Batches", exact=True).click()
    sam.get_by_label("Recipe (approved, effective)").select_option("MET-500-DISP")
    sam.get_by_label("Batch size").fill("60")
    sam.get_by_label("Production order").fill("PO-DAY-ONE")
    sam.get_by_role("button", name="Create and release to the floor").click()
    created = sam.get_by_role("status").filter(has_text="created and released to the floor")
    number = re.search(r"Batch (\S+) created", created.inner_text()).group(1)  # type: ignore[union-attr]

    # --- an untrained operator is refused at the first step, the curriculum named ------------
    otto = tab(browser, plant, "otto")
    otto.goto("/worklist/")
    otto.get_by_role("link", name=f"Open batch {number}").click()
    otto.get_by_role("button", name=f"Start batch {number}").click()
    otto.get_by_role("button", name="Start step UP1.OP1.PH1").click()
    otto.get_by_text(
        f"otto is not qualified for phase type equipment_check on SC-01: curriculum '{CURRICULUM}' missing"
    ).first.wait_for()
    screenshot(otto, "plant-from-scratch-untrained-refused")
    close(otto)

    # --- the trained operator weighs the whole batch on the simulated scale ------------------
    olga = tab(browser, plant, "olga")
    olga.goto("/worklist/")
    olga.get_by_role("link", name=f"Open batch {number}").click()
    floor = Floor(olga, plant.simulator)
    floor.step("UP1.OP1.PH1", {"performed": "olga"})
    floor.step("UP1.OP1.PH2", {"performed": "olga"}, value=("Relative humidity in the booth", "35"))
    floor.step("UP1.OP1.PH3", {"performed": "olga", "verified": "sam"})
    for path, code in (
        ("UP1.OP2.PH1", "RM-MET"), ("UP1.OP3.PH1", "RM-MCC"), ("UP1.OP3.PH2", "RM-PVP"),
        ("UP1.OP3.PH3", "RM-CCS"), ("UP1.OP3.PH4", "RM-SIO2"), ("UP1.OP3.PH5", "RM-MGST"),
    ):  # fmt: skip
        floor.step(path, {"performed": "olga", "verified": "sam"}, container=f"L-{code}-001")
    floor.step("UP1.OP4.PH1", {"performed": "olga"})
    floor.step("UP1.OP4.PH2", {"performed": "olga"}, choice=("Every container is closed", "pass"))
    floor.step("UP1.OP4.PH3", {"performed": "olga", "verified": "sam"})
    olga.locator("#batch-status .badge-ok").get_by_text("complete", exact=True).wait_for()
    close(olga)

    # --- QA reviews by exception, records a disposition for each, and releases (signed) ------
    quinn.goto(f"/review/batches/{number}")
    quinn.get_by_role("heading", name=f"Review of batch {number}").wait_for()
    for button in ("Sign as reviewed", f"Release batch {number}"):
        if button.startswith("Release"):
            exceptions = quinn.get_by_role("list", name=f"Exceptions of batch {number}")
            for _ in range(exceptions.get_by_role("button").count()):
                form = quinn.locator(
                    "form", has=quinn.get_by_role("button", name=re.compile(r"^Record disposition"))
                ).first
                form.get_by_role("textbox").fill("Assessed: product not affected.")
                form.get_by_role("button").click()
                quinn.get_by_text(f"Batch {number}: disposition recorded.").wait_for()
        form = quinn.locator("form", has=quinn.get_by_role("button", name=button))
        form.get_by_label("Password").fill(PASSWORD)
        form.get_by_role("button", name=button).click()
        quinn.wait_for_load_state()
    quinn.get_by_text(f"Batch {number}: released.").wait_for()
    screenshot(quinn, "plant-from-scratch-released")
    assert re.search(rf"{number}.*released", plant.ebr("batch", "list").stdout, re.S)


class Floor:
    """The operator's tablet, one step at a time (the supervisor signs "verified" in her dialog)."""

    def __init__(self, page: Any, simulator: SimulatorHandle) -> None:
        self.page, self.simulator = page, simulator

    def article(self, path: str) -> Any:
        return self.page.get_by_role("article", name=re.compile(rf"(^| ){re.escape(path)} "))

    def record(self, path: str, button: str) -> None:
        step = self.article(path)
        step.get_by_role("button", name=button).click()
        step.get_by_role("status").filter(has_text="Recorded.").wait_for()

    def step(
        self, path: str, signers: dict[str, str], value: tuple[str, str] | None = None,
        choice: tuple[str, str] | None = None, container: str | None = None,
    ) -> None:  # fmt: skip
        self.page.get_by_role("button", name=f"Start step {path}").click()
        self.page.get_by_role("button", name=f"Complete and sign step {path}").wait_for()
        if value is not None:
            self.article(path).get_by_label(value[0]).fill(value[1])
            self.record(path, "Record value")
        if choice is not None:
            self.article(path).get_by_role("group", name=re.compile(re.escape(choice[0]))).get_by_label(
                choice[1], exact=True
            ).check()
            self.record(path, "Record value")
        if container is not None:
            self.weigh(path, container)
        self.page.get_by_role("button", name=f"Complete and sign step {path}").click()
        dialog = self.page.get_by_role("dialog", name=f"Sign step {path}")
        for meaning, user in signers.items():
            dialog.get_by_label(f"User id ({meaning})").fill(user)
            dialog.get_by_label(f"Password ({meaning})").fill(PASSWORD)
        dialog.get_by_role("button", name="Sign and complete").click()
        done = self.page.get_by_role("status").filter(has_text="Step completed and signed.")
        alert = self.page.locator("#work [role=alert]")
        done.or_(alert).first.wait_for()
        assert alert.count() == 0, alert.first.inner_text()

    def weigh(self, path: str, container: str) -> None:
        step = self.article(path)
        step.get_by_label("Scan the container barcode").fill(container)
        self.page.keyboard.press("Enter")
        step.get_by_role("button", name="Tare the scale").wait_for()
        self.simulator.place_weight(TARE_KG)
        time.sleep(1.5)  # the scale reports stable once the weight stops changing
        self.record(path, "Tare the scale")
        target = Decimal(step.get_by_role("definition").filter(has_text="calculated").first.inner_text().split()[0])
        self.simulator.place_weight(TARE_KG + float(target))
        time.sleep(1.5)
        step.get_by_role("button", name="Take the weight").click()
        step.get_by_role("button", name="Take the weight").wait_for(state="detached")
        self.simulator.place_weight(0.0)
