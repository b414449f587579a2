"""The batch page shows the control recipe as a procedure chart with the batch's current step highlighted."""

from __future__ import annotations

import pytest
from flask import Flask

from ebr.authoring import sfc
from tests.integration.execution.conftest import PASSWORD, SIMPLE, Floor, recipe


@pytest.mark.requirement("URS-REC-021")
def test_the_batch_chart_highlights_the_running_step(app: Flask, floor: Floor) -> None:
    number = floor.batch(recipe(SIMPLE))
    floor.work(floor.execution.start_step, actor="olga", ref=number, path="UP1.OP1.PH1")
    app.config["WTF_CSRF_ENABLED"] = False  # CSRF is proven in tests/integration/signatures
    client = app.test_client()
    assert client.post("/auth/login", data={"user_id": "olga", "password": PASSWORD}).status_code == 302
    page = client.get(f"/batches/{number}").get_data(as_text=True)
    assert f"/recipes/batch/{number}/sfc.svg" in page
    chart = client.get(f"/recipes/batch/{number}/sfc.svg")
    assert chart.mimetype == "image/svg+xml"
    svg = chart.get_data(as_text=True)
    assert "Reactor ready" in svg
    assert f'fill="{sfc.ACTIVE}"' in svg
    assert client.get("/recipes/batch/NO-SUCH/sfc.svg").status_code == 404
