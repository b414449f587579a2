"""An interlock trip during dosing holds the batch step with a deviation; after it is signed, a restart finishes."""

from __future__ import annotations

import time

import pytest
import yaml
from flask import Flask

from ebr.bootstrap import Services
from tests.e2e import test_batch_examples as examples
from tests.e2e.batch_support import wait
from tests.e2e.test_batch_crash import RECIPE
from tests.integration.execution.api_support import Api, approve_recipe
from tests.support.plant import SimulatorHandle

clock, shop, simulator, runtime, web = examples.clock, examples.shop, examples.simulator, examples.runtime, examples.web
PATH = "UP1.OP1.PH2"


@pytest.mark.slow
@pytest.mark.requirement("URS-BAT-003", "URS-EQP-003", "URS-VAL-003")
def test_a_high_high_level_trip_during_dosing_holds_the_step_and_opens_a_deviation(
    web: Flask, shop: Services, simulator: SimulatorHandle
) -> None:
    label = approve_recipe(shop, yaml.safe_dump(RECIPE), "trip.yaml")
    olga, sam = Api(web.test_client(), "olga"), Api(web.test_client(), "sam")
    number = sam.call("POST", "/api/batches", {"recipe": label, "size": "100", "order": "PO-T"})["number"]
    sam.call("POST", f"/api/batches/{number}/release", {})
    olga.call("POST", f"/api/batches/{number}/start", {})
    olga.start(number, "UP1.OP1.PH1")
    olga.complete(number, "UP1.OP1.PH1")
    simulator.set(**{"R-101.level": 1500.0})
    time.sleep(0.5)
    olga.start(number, PATH)
    time.sleep(1.0)
    simulator.set(**{"R-101.level": 1790.0})  # an unexpected inflow: high-high during dosing
    wait(lambda: olga.step(number, PATH)["state"] == "Held", 30, "the dosing step to be held")
    step = olga.step(number, PATH)
    deviation = olga.call("GET", f"/api/deviations/{step['deviations'][0]}")
    assert deviation["kind"] == "interlock_trip"
    assert deviation["severity"] == "major"
    assert "high-high" in deviation["description"]
    blocked = olga.complete(number, PATH, expect=409)
    assert "only a Running step can be completed" in blocked["message"]
    sam.call(
        "POST",
        f"/api/deviations/{deviation['number']}/signatures",
        {"comment": "level transmitter spike; level checked by sight glass", "signature": sam.sig("verified")},
    )
    simulator.set(**{"R-101.level": 1000.0})
    time.sleep(1.0)
    sam.call(
        "POST",
        f"/api/batches/{number}/steps/{PATH}/commands",
        {"command": "restart", "signature": sam.sig("restarted")},
    )
    wait(lambda: any(e["name"] == "actual" for e in olga.step(number, PATH)["entries"]), 120, "the dosing to finish")
    done = olga.complete(number, PATH)
    assert done["completed"] is True
    still_open = olga.call("GET", f"/api/deviations/{deviation['number']}")
    assert still_open["status"] == "open", "a major deviation waits for QA's review"
