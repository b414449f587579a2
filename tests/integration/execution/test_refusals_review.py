"""Refusals in the browser (equipment in use, a wrong container) are audited and listed in QA's review."""

from __future__ import annotations

import pytest
from flask import Flask

from ebr.execution import review as review_items
from tests.integration.execution.conftest import PASSWORD, SIMPLE, Floor, make_lot, recipe, sig
from tests.integration.execution.test_materials import _weigh_step
from tests.integration.web.test_verification_queue import client_for

HTMX = {"HX-Request": "true"}


def kinds(floor: Floor, number: str) -> dict[str, str]:
    with floor.services.session_factory() as session:
        items = review_items.exceptions(session, floor.execution.batch(session, number))
    return {item.kind: item.summary for item in items}


@pytest.mark.requirement("URS-QA-004")
def test_equipment_in_use_refused_at_completion_becomes_a_review_exception(app: Flask, floor: Floor) -> None:
    ex = floor.execution
    first, second = floor.batch(recipe(SIMPLE), order="PO-A"), floor.batch(recipe(SIMPLE), order="PO-B")
    for number in (first, second):
        floor.work(ex.start_step, actor="olga", ref=number, path="UP1.OP1.PH1")
    floor.work(ex.complete_step, actor="olga", ref=first, path="UP1.OP1.PH1", signatures=[sig("olga")])
    form = {"meaning": "performed", "sig_performed_user": "olga", "sig_performed_password": PASSWORD}
    client = client_for(app, "olga")
    app.config["WTF_CSRF_ENABLED"] = False
    refused = client.post(f"/batches/{second}/steps/UP1.OP1.PH1/complete", data=form, headers=HTMX)
    assert refused.status_code in (409, 422)
    found = kinds(floor, second)
    assert "equipment refusal" in found
    assert "R-101" in found["equipment refusal"]
    assert "equipment refusal" not in kinds(floor, first)


@pytest.mark.requirement("URS-QA-004")
def test_a_refused_container_scan_becomes_a_review_exception(app: Flask, floor: Floor) -> None:
    make_lot(floor, "RM-Y", "L-Y", "40")  # the wrong material for this step
    number = _weigh_step(floor)
    app.config["WTF_CSRF_ENABLED"] = False
    client = client_for(app, "olga")
    refused = client.post(f"/batches/{number}/steps/UP1.OP1.PH1/record", data={"container": "C-L-Y"}, headers=HTMX)
    assert refused.status_code == 422
    found = kinds(floor, number)
    assert found["material refusal"].startswith("wrong material: container C-L-Y holds RM-Y")
