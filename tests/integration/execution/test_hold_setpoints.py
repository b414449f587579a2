"""A timed hold shows its setpoint in words beside the live actual value (not a raw tag name)."""

from __future__ import annotations

import copy
import html
from decimal import Decimal

from flask import Flask

from ebr.core.db import unit_of_work
from equipment.models import Reading
from tests.integration.execution.conftest import Floor, recipe
from tests.integration.execution.test_holds_and_deviations import HOLD
from tests.integration.execution.test_live_dosing import read_stream
from tests.integration.web.test_verification_queue import client_for


def test_the_hold_shows_the_jacket_setpoint_beside_the_actual_temperature(app: Flask, floor: Floor) -> None:
    heated = copy.deepcopy(HOLD)
    phase = heated["unit_procedures"][0]["operations"][0]["phases"][0]
    phase["setpoints"] = [{"tag": "R-101.jacket_setpoint", "value": "40.0", "unit": "°C"}]
    number = floor.batch(recipe(heated))
    floor.work(floor.execution.start_step, actor="olga", ref=number, path="UP1.OP1.PH1")
    now = floor.services.clock.now()
    with unit_of_work(floor.services.session_factory) as session:
        for tag, value in (
            ("R-101.heat_sp_temperature", "40.0"),
            ("R-101.jacket_setpoint", "40.0"),
            ("R-101.temperature", "38.7"),
        ):
            session.merge(
                Reading(
                    tag=tag,
                    value=value,
                    number=Decimal(value),
                    unit="°C",
                    quality="Good",
                    source_ts=now,
                    server_ts=now,
                    updated_at=now,
                )
            )
    olga = client_for(app, "olga")
    page = html.unescape(olga.get(f"/batches/{number}").get_data(as_text=True))
    assert "Jacket setpoint of R-101: setpoint <strong>40.0 °C</strong>" in page
    assert "R-101.jacket_setpoint =" not in page
    with floor.services.session_factory() as session:
        step_ref = f"{floor.execution.batch(session, number).id}:UP1.OP1.PH1"
    received = read_stream(olga, f"/live/units/R-101?hold={step_ref}", "event: setpoints")
    assert 'actual temperature <strong class="live-reading">38.7 °C</strong>' in received
