"""Weighing on the Modbus scale SC-01 through the API: a weight out of tolerance records nothing."""

from __future__ import annotations

import time

import pytest
import yaml
from flask import Flask

from ebr.bootstrap import Services
from ebr.execution.service import build
from tests.e2e import test_batch_examples as examples
from tests.integration.execution.api_support import Api, approve_recipe
from tests.integration.execution.conftest import Floor, make_lot
from tests.integration.execution.test_materials import WEIGH
from tests.support.plant import SimulatorHandle

PATH = "UP1.OP1.PH1"

# The plant, simulator, runtime and web app of the example batches.
clock, shop, simulator, runtime, web = examples.clock, examples.shop, examples.simulator, examples.runtime, examples.web


def _weigh(api: Api, number: str, values: dict[str, bool], expect: int) -> dict[str, object]:
    time.sleep(1.5)  # the scale settles (~0.5 s) and the runtime writes the reading (every 0.5 s)
    return dict(api.record(number, PATH, values, expect=expect))


@pytest.mark.slow
@pytest.mark.requirement("URS-BAT-004")
def test_a_weight_out_of_tolerance_is_refused_and_the_right_weight_is_recorded_from_the_scale(
    web: Flask, shop: Services, simulator: SimulatorHandle
) -> None:
    make_lot(Floor(shop, build(shop)), "RM-X", "L-X", "50", potency="98.0")
    label = approve_recipe(shop, yaml.safe_dump(WEIGH), "weigh.yaml")
    olga, sam = Api(web.test_client(), "olga"), Api(web.test_client(), "sam")
    number = sam.call("POST", "/api/batches", {"recipe": label, "size": "10", "order": "PO-W"})["number"]
    sam.call("POST", f"/api/batches/{number}/release", {})
    olga.call("POST", f"/api/batches/{number}/start", {})
    olga.start(number, "UP1.OP1.PH1")
    olga.record(number, PATH, {"container": "C-L-X"})
    simulator.place_weight(0.5)
    _weigh(olga, number, {"tare": True}, 201)
    simulator.place_weight(11.2)  # 10.7 kg net; the target is 10.204 kg ± 1 %
    refused = _weigh(olga, number, {"weigh": True}, 422)
    assert "net weight: 10.700 kg is out of tolerance: the target is 10.2040 kg" in str(refused["message"])
    assert [e["name"] for e in olga.step(number, PATH)["entries"]] == ["container", "lot", "target", "tare"]
    early = olga.complete(number, PATH, verifier=sam, expect=409)
    assert "has no net yet" in early["message"]
    simulator.place_weight(10.7)  # 10.2 kg net
    _weigh(olga, number, {"weigh": True}, 201)
    olga.complete(number, PATH, verifier=sam)
    entries = {e["name"]: e for e in olga.step(number, PATH)["entries"]}
    assert (entries["tare"]["value"], entries["net"]["value"], entries["net"]["source"]) == ("0.500", "10.200", "scale")
    assert olga.call("GET", "/api/lots/L-X")["quantity"] == "39.800"
