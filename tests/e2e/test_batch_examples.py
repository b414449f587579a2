"""A complete batch of each example recipe, through the JSON API, against the plant simulator.

The equipment runtime doses purified water over OPC UA and the Modbus scale SC-01
gives every weight; the operator performs, a supervisor verifies.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from audit.models import AuditEvent
from ebr.app import create_app
from ebr.bootstrap import Services, build_services
from ebr.core.config import Settings
from ebr.execution.models import StepEntry
from ebr.execution.service import build
from equipment.commands import runtime_status
from tests.e2e.batch_support import Runner, ShiftedClock
from tests.integration.execution.api_support import Api, approve_recipe
from tests.integration.execution.conftest import EXAMPLES, Floor, make_lot, make_people, make_plant
from tests.support.plant import RuntimeHandle, SimulatorHandle, start_runtime, start_simulator

PLANT = {"R-101": "unit", "SC-01": "scale", "F-101": "filter", "T-100": "tank", "FS-01": "unit"}


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
def shop(settings: Settings, clock: ShiftedClock) -> Iterator[Services]:
    built = build_services(settings, clock=clock)
    make_people(built)
    make_plant(built, PLANT)
    yield built
    built.close()


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[SimulatorHandle]:
    with start_simulator(tmp_path) as sim:
        yield sim


@pytest.fixture
def runtime(shop: Services, simulator: SimulatorHandle) -> Iterator[RuntimeHandle]:
    with start_runtime(shop, simulator.config_path) as handle:
        handle.wait_connected()
        yield handle


@pytest.fixture
def web(shop: Services, runtime: RuntimeHandle) -> Flask:
    return create_app(services=shop)


def _runtime_alive(services: Services) -> bool:
    with services.session_factory() as session:
        return runtime_status(session, now=services.clock.now()).connected


def _people(app: Flask) -> tuple[Api, Api]:
    return Api(app.test_client(), "olga"), Api(app.test_client(), "sam")


def _new_batch(app: Flask, shop: Services, name: str, size: str) -> str:
    label = approve_recipe(shop, (EXAMPLES / name).read_text(encoding="utf-8"), name)
    olga, sam = _people(app)
    number = str(sam.call("POST", "/api/batches", {"recipe": label, "size": size, "order": "PO-E2E"})["number"])
    sam.call("POST", f"/api/batches/{number}/release", {})
    olga.call("POST", f"/api/batches/{number}/start", {})
    return number


@pytest.mark.slow
@pytest.mark.requirement("URS-BAT-001", "URS-BAT-002", "URS-BAT-004", "URS-BAT-008")
def test_a_metformin_dispensing_batch_runs_end_to_end_with_every_weight_from_the_modbus_scale(
    web: Flask, shop: Services, simulator: SimulatorHandle, clock: ShiftedClock
) -> None:
    floor = Floor(shop, build(shop))
    potency = {"RM-MET": "99.5"}
    for code in ("RM-MET", "RM-MCC", "RM-PVP", "RM-CCS", "RM-SIO2", "RM-MGST"):
        make_lot(floor, code, f"L-{code}", "100", potency=potency.get(code))
    number = _new_batch(web, shop, "metformin-dispensing-campaign.yaml", "60")
    values = {
        "UP1.OP1.PH2": {"value": "38"},
        "UP1.OP4.PH2": {"value": "pass"},
        **{p: {"container": f"C-L-{c}"} for p, c in (
            ("UP1.OP2.PH1", "RM-MET"), ("UP1.OP3.PH1", "RM-MCC"), ("UP1.OP3.PH2", "RM-PVP"),
            ("UP1.OP3.PH3", "RM-CCS"), ("UP1.OP3.PH4", "RM-SIO2"), ("UP1.OP3.PH5", "RM-MGST"),
        )},
    }  # fmt: skip
    olga, sam = _people(web)
    batch = Runner(olga, sam, simulator, clock, values).run(number)
    assert batch["open_deviations"] == []
    genealogy = olga.call("GET", f"/api/batches/{number}/genealogy")
    used = {i["lot"]: i["quantity"] for i in genealogy["inputs"]}
    assert used["L-RM-MET"] == "30.151", "30 kg of API at 99.5 % potency"
    assert olga.call("GET", "/api/lots/L-RM-MET")["quantity"] == "69.849"
    with shop.session_factory() as session:
        total = session.scalars(select(StepEntry).where(StepEntry.name == "result")).one()
        assert total.value == "60.151"
        scale_values = session.scalars(select(StepEntry).where(StepEntry.name == "net")).all()
        assert {e.source for e in scale_values} == {"scale"}
        assert len(scale_values) == 6


@pytest.mark.slow
@pytest.mark.requirement("URS-BAT-002", "URS-BAT-003", "URS-EQP-002")
def test_a_paracetamol_solution_batch_runs_end_to_end_with_automated_dosing_and_timed_holds(
    web: Flask, shop: Services, simulator: SimulatorHandle, clock: ShiftedClock
) -> None:
    floor = Floor(shop, build(shop))
    for code, potency in (("RM-PCM", "99.2"), ("RM-NABZ", None), ("RM-SUCR", None), ("RM-CITR", None)):
        make_lot(floor, code, f"L-{code}", "50", potency=potency)
    number = _new_batch(web, shop, "paracetamol-oral-solution.yaml", "500")
    values = {
        "UP1.OP2.PH2": {"value": "22.5"},
        "UP1.OP3.PH1": {"container": "C-L-RM-PCM"},
        "UP1.OP3.PH2": {"container": "C-L-RM-NABZ"},
        "UP1.OP3.PH3": {"container": "C-L-RM-SUCR"},
        "UP1.OP3.PH5": {"minutes": 31},
        "UP1.OP3.PH6": {"value": "clear"},
        "UP1.OP4.PH1": {"sample_id": "IPC-1", "results": {"pH": "5.1", "assay": "99.8"}},
        "UP1.OP4.PH2": {"value": "5.1"},
        "UP1.OP5.PH2": {"minutes": 16},
        "UP1.OP5.PH3": {"value": "500"},
        "UP2.OP1.PH3": {"value": "0.8"},
        "UP2.OP2.PH1": {"value": "100.4"},
        "UP2.OP2.PH2": {"value": "4990"},
    }
    olga, sam = _people(web)
    runner = Runner(olga, sam, simulator, clock, values, runtime_alive=lambda: _runtime_alive(shop))
    batch = runner.run(number)
    assert runner.early_refusals == 2
    assert batch["output_lot"] is not None
    dosing = olga.step(number, "UP1.OP2.PH1")
    actual = next(e for e in dosing["entries"] if e["name"] == "actual")
    assert abs(float(actual["value"]) - 375.0) <= 2.0
    assert actual["source"] == "equipment"
    assert dosing["data"]["trend_points"] >= 1
    skipped = olga.step(number, "UP1.OP4.PH3")
    assert skipped["state"] == "Idle", "pH in specification: no citric acid adjustment"
    with shop.session_factory() as session:
        actions = list(session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("batch.%"))))
    assert actions.count("batch.step.completed") == 24
    hold = olga.step(number, "UP1.OP3.PH5")
    elapsed = next(e for e in hold["entries"] if e["name"] == "elapsed")
    assert 1860 <= float(elapsed["value"]) <= 5400, "held at least 30 and at most 90 minutes"
    assert elapsed["in_limits"] is True
