"""The engine refuses to start or sign a step for a person whose required training is missing or
expired, through the API and the browser alike, names what is missing, and records the refusal."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml
from flask import Flask
from sqlalchemy import update

from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.execution import review as review_items
from ebr.training.errors import NotQualified
from ebr.training.models import TrainingRecord
from tests.integration.execution.api_support import Api, approve_recipe
from tests.integration.execution.conftest import SIMPLE, Floor, recipe, sig
from tests.integration.training.support import REACTOR, add_curriculum, train
from tests.integration.web.test_verification_queue import client_for

FIRST = "UP1.OP1.PH1"  # equipment_check on R-101
MISSING = f"otto is not qualified for phase type equipment_check on R-101: curriculum '{REACTOR}' missing"


def _require(app: Flask) -> Api:
    quinn = Api(app.test_client(), "quinn")
    add_curriculum(quinn)
    body = {"curriculum": REACTOR, "kind": "phase_type", "target": "equipment_check", "unit": "R-101"}
    quinn.call("POST", "/api/training/requirements", body, expect=201)
    return quinn


def _exceptions(floor: Floor, number: str) -> dict[str, str]:
    with floor.services.session_factory() as session:
        items = review_items.exceptions(session, floor.execution.batch(session, number))
    return {item.kind: item.summary for item in items}


@pytest.mark.requirement("URS-TRN-002")
def test_an_untrained_operator_is_refused_at_the_first_step_through_the_api(
    app: Flask, floor: Floor, services: Services
) -> None:
    _require(app)
    sam = Api(app.test_client(), "sam")
    train(sam, "olga")
    label = approve_recipe(services, yaml.safe_dump(SIMPLE, allow_unicode=True), "simple.yaml")
    number = sam.call("POST", "/api/batches", {"recipe": label, "size": "100", "order": "PO-9"}, expect=201)["number"]
    sam.call("POST", f"/api/batches/{number}/release", {}, expect=(200, 201))
    otto, olga = Api(app.test_client(), "otto"), Api(app.test_client(), "olga")
    otto.call("POST", f"/api/batches/{number}/start", {}, expect=(200, 201))
    refused = otto.call("POST", f"/api/batches/{number}/steps/{FIRST}/start", {}, expect=403)
    assert refused["error"] == "NotQualified"
    assert refused["message"].startswith(MISSING)
    assert otto.step(number, FIRST)["state"] != "Running"
    assert MISSING in _exceptions(floor, number)["training refusal"]
    olga.start(number, FIRST)
    signed_by_otto = olga.call(
        "POST", f"/api/batches/{number}/steps/{FIRST}/complete", {"signatures": [otto.sig()]}, expect=403
    )
    assert MISSING in signed_by_otto["message"]
    assert olga.complete(number, FIRST)["completed"] is True


@pytest.mark.requirement("URS-TRN-002")
def test_an_untrained_operator_is_refused_at_the_first_step_in_the_browser(app: Flask, floor: Floor) -> None:
    _require(app)
    number = floor.batch(recipe(SIMPLE))
    app.config["WTF_CSRF_ENABLED"] = False
    otto = client_for(app, "otto")
    page = otto.post(f"/batches/{number}/steps/{FIRST}/start", headers={"HX-Request": "true"})
    assert page.status_code == 403
    assert MISSING.replace("'", "&#39;") in page.get_data(as_text=True)
    assert MISSING in _exceptions(floor, number)["training refusal"]


@pytest.mark.requirement("URS-TRN-002", "URS-TRN-003")
def test_an_expired_training_is_refused_with_its_expiry_date(app: Flask, floor: Floor, services: Services) -> None:
    _require(app)
    train(Api(app.test_client(), "sam"), "otto")
    number = floor.batch(recipe(SIMPLE))
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    with unit_of_work(services.session_factory) as session:  # a year goes by
        session.execute(update(TrainingRecord).where(TrainingRecord.trainee == "otto").values(expires_on=yesterday))
    with pytest.raises(NotQualified, match=f"curriculum '{REACTOR}' expired on {yesterday}"):
        floor.work(floor.execution.start_step, actor="otto", ref=number, path=FIRST)


@pytest.mark.requirement("URS-TRN-002")
def test_with_no_requirement_nobody_is_checked(floor: Floor) -> None:
    number = floor.batch(recipe(SIMPLE))
    floor.work(floor.execution.start_step, actor="otto", ref=number, path=FIRST)
    floor.work(floor.execution.complete_step, actor="otto", ref=number, path=FIRST, signatures=[sig("otto")])


@pytest.mark.requirement("URS-TRN-002")
def test_a_recipe_or_unit_requirement_applies_to_every_step_of_it(app: Flask, floor: Floor) -> None:
    quinn = _require(app)
    add_curriculum(quinn, "GMP basics", days=None)
    quinn.call("POST", "/api/training/requirements", {"curriculum": "GMP basics", "kind": "recipe", "target": "SIMPLE"})
    train(Api(app.test_client(), "sam"), "otto")
    number = floor.batch(recipe(SIMPLE))
    with pytest.raises(NotQualified, match="otto is not qualified for recipe SIMPLE: curriculum 'GMP basics' missing"):
        floor.work(floor.execution.start_step, actor="otto", ref=number, path=FIRST)


@pytest.mark.requirement("URS-TRN-002")
def test_every_signer_of_a_step_must_be_qualified_not_only_the_performer(app: Flask, floor: Floor) -> None:
    quinn = Api(app.test_client(), "quinn")
    add_curriculum(quinn, "GMP basics", days=None)
    quinn.call("POST", "/api/training/requirements", {"curriculum": "GMP basics", "kind": "recipe", "target": "SIMPLE"})
    sam = Api(app.test_client(), "sam")
    train(sam, "olga", "GMP basics")
    train(Api(app.test_client(), "sue"), "sam", "GMP basics")
    ex = floor.execution
    number = floor.batch(recipe(SIMPLE))
    floor.work(ex.start_step, actor="olga", ref=number, path=FIRST)
    floor.work(ex.complete_step, actor="olga", ref=number, path=FIRST, signatures=[sig("olga")])
    floor.work(ex.start_step, actor="olga", ref=number, path="UP1.OP1.PH2")
    with pytest.raises(NotQualified, match="sue is not qualified for recipe SIMPLE: curriculum 'GMP basics' missing"):
        floor.work(
            ex.complete_step, actor="olga", ref=number, path="UP1.OP1.PH2",
            signatures=[sig("olga"), sig("sue", "verified")],
        )  # fmt: skip
    floor.work(
        ex.complete_step, actor="olga", ref=number, path="UP1.OP1.PH2", signatures=[sig("olga"), sig("sam", "verified")]
    )
