"""The JSON API follows the browser's rules: refusals become review exceptions, and an
out-of-limit value is stored only when the client confirms it (``confirm_out_of_limit``)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from ebr.execution import review as review_items
from ebr.execution.models import Deviation, StepEntry
from tests.integration.execution.api_support import Api
from tests.integration.execution.conftest import SIMPLE, Floor, make_lot, recipe
from tests.integration.execution.test_materials import _weigh_step

TEMPERATURE = "UP1.OP1.PH3"  # numeric, 15–30 °C


def exceptions(floor: Floor, number: str) -> dict[str, str]:
    with floor.services.session_factory() as session:
        items = review_items.exceptions(session, floor.execution.batch(session, number))
    return {item.kind: item.summary for item in items}


def stored(floor: Floor, number: str) -> tuple[int, int]:
    """How many values and deviations batch ``number`` has."""
    with floor.services.session_factory() as session:
        batch = floor.execution.batch(session, number)
        values = session.scalar(select(func.count()).where(StepEntry.batch_id == batch.id)) or 0
        devs = session.scalar(select(func.count()).where(Deviation.batch_id == batch.id)) or 0
    return values, devs


def at_temperature(floor: Floor, olga: Api, order: str) -> str:
    number = floor.batch(recipe(SIMPLE), order=order)
    olga.start(number, "UP1.OP1.PH1")
    olga.complete(number, "UP1.OP1.PH1")
    olga.start(number, "UP1.OP1.PH2")
    olga.complete(number, "UP1.OP1.PH2", verifier=Api(olga.client.application.test_client(), "sue"))
    olga.start(number, TEMPERATURE)
    return number


@pytest.mark.requirement("URS-QA-004")
def test_equipment_in_use_refused_through_the_api_becomes_a_review_exception(app: Flask, floor: Floor) -> None:
    olga = Api(app.test_client(), "olga")
    first, second = floor.batch(recipe(SIMPLE), order="PO-A"), floor.batch(recipe(SIMPLE), order="PO-B")
    for number in (first, second):
        olga.start(number, "UP1.OP1.PH1")
    olga.complete(first, "UP1.OP1.PH1")
    refused = olga.complete(second, "UP1.OP1.PH1", expect=409)
    assert refused["error"] in ("EquipmentDirty", "EquipmentInUse")
    found = exceptions(floor, second)
    assert "R-101" in found["equipment refusal"]
    assert found["equipment refusal"] == refused["message"]
    assert "equipment refusal" not in exceptions(floor, first)
    assert olga.step(second, "UP1.OP1.PH1")["state"] == "Running"  # the refusal itself changed nothing


@pytest.mark.requirement("URS-QA-004")
def test_a_container_refused_through_the_api_becomes_a_review_exception(app: Flask, floor: Floor) -> None:
    make_lot(floor, "RM-Y", "L-Y", "40")  # the wrong material for this step
    number = _weigh_step(floor)
    olga = Api(app.test_client(), "olga")
    refused = olga.record(number, "UP1.OP1.PH1", {"container": "C-L-Y"}, expect=422)
    assert refused["message"].startswith("wrong material: container C-L-Y holds RM-Y")
    assert exceptions(floor, number)["material refusal"] == refused["message"]
    assert olga.step(number, "UP1.OP1.PH1")["entries"] == []


@pytest.mark.requirement("URS-QA-004")
def test_an_invalid_value_through_the_api_is_no_refusal_for_review(app: Flask, floor: Floor) -> None:
    olga = Api(app.test_client(), "olga")
    number = at_temperature(floor, olga, "PO-C")
    olga.record(number, TEMPERATURE, {"value": "warm"}, expect=422)
    assert not {"equipment refusal", "material refusal"} & set(exceptions(floor, number))


@pytest.mark.requirement("URS-BAT-003")
@pytest.mark.parametrize(("value", "limit"), [("35", "above the high limit 30 °C"), ("14.9", "below the low limit 15")])
def test_an_out_of_limit_value_through_the_api_is_stored_only_when_confirmed(
    app: Flask, floor: Floor, value: str, limit: str
) -> None:
    olga = Api(app.test_client(), "olga")
    number = at_temperature(floor, olga, "PO-D")
    before = stored(floor, number)
    asked = olga.record(number, TEMPERATURE, {"value": value}, expect=409)
    assert asked["error"] == "OutOfLimitsUnconfirmed"
    assert limit in asked["message"]
    assert "limits 15–30 °C" in asked["message"]
    assert '"confirm_out_of_limit": true' in asked["message"]
    assert stored(floor, number) == before  # neither the value nor a deviation
    url = f"/api/batches/{number}/steps/{TEMPERATURE}/entries"
    confirmed = olga.call("POST", url, {"values": {"value": value}, "confirm_out_of_limit": True}, expect=201)
    assert len(confirmed["deviations"]) == 1
    entry = confirmed["step"]["entries"][0]
    assert (entry["value"], entry["in_limits"]) == (value, False)


@pytest.mark.requirement("URS-BAT-003")
def test_a_value_within_limits_needs_no_confirmation_and_completion_with_values_follows_the_same_rule(
    app: Flask, floor: Floor
) -> None:
    olga = Api(app.test_client(), "olga")
    number = at_temperature(floor, olga, "PO-E")
    asked = olga.complete(number, TEMPERATURE, values={"value": 30.5}, expect=409)
    assert "30.5 °C is above the high limit 30 °C" in asked["message"]
    assert olga.step(number, TEMPERATURE)["state"] == "Running"
    done = olga.complete(number, TEMPERATURE, values={"value": 30})
    assert done["completed"] is True
    assert done["deviations"] == []


def test_the_openapi_document_declares_the_confirmation_and_its_refusal(app: Flask) -> None:
    spec: dict[str, Any] = app.test_client().get("/api/openapi.json").json
    for endpoint, schema in (("entries", "EntriesIn"), ("complete", "CompleteIn")):
        operation = spec["paths"][f"/api/batches/{{ref}}/steps/{{path}}/{endpoint}"]["post"]
        conflict = operation["responses"]["409"]
        assert "confirm_out_of_limit" in conflict["description"]
        assert conflict["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}
        flag = spec["components"]["schemas"][schema]["properties"]["confirm_out_of_limit"]
        assert (flag["type"], flag["default"]) == ("boolean", False)
    assert set(spec["components"]["schemas"]["ErrorOut"]["required"]) == {"error", "message"}
