"""The live figures streamed to the operator (dosed amount, level, hold actual, net weight) in the plant's locale."""

from __future__ import annotations

import copy
from dataclasses import replace
from decimal import Decimal

import pytest
from flask import Flask

from ebr.core.config import load_settings
from ebr.core.db import unit_of_work
from equipment.models import PhaseState, Reading, TrendPoint
from tests.e2e.test_batch_crash import RECIPE as DOSING
from tests.integration.execution.conftest import Floor, recipe, sig
from tests.integration.execution.test_holds_and_deviations import HOLD
from tests.integration.execution.test_live_dosing import read_stream
from tests.integration.web.test_verification_queue import client_for


def readings(floor: Floor, unit: str, **values: str) -> None:
    now = floor.services.clock.now()
    with unit_of_work(floor.services.session_factory) as session:
        for name, value in values.items():
            session.merge(
                Reading(
                    tag=f"R-101.{name}", value=value, number=Decimal(value), unit=unit, quality="Good",
                    source_ts=now, server_ts=now, updated_at=now,
                )
            )  # fmt: skip


@pytest.fixture
def german(floor: Floor) -> Floor:
    """The plant configured with ``EBR_PLANT_LOCALE=de_DE`` (read the way the installation reads it)."""
    locale = load_settings({"EBR_PLANT_LOCALE": "de_DE"}).plant_locale
    floor.services.settings = replace(floor.services.settings, plant_locale=locale)
    return floor


@pytest.mark.requirement("URS-BAT-022")
def test_the_live_dosed_amount_and_level_use_the_decimal_comma(app: Flask, german: Floor) -> None:
    ex, services = german.execution, german.services
    number = german.batch(recipe(DOSING), size="100")
    german.work(ex.start_step, actor="olga", ref=number, path="UP1.OP1.PH1")
    german.work(ex.complete_step, actor="olga", ref=number, path="UP1.OP1.PH1", signatures=[sig("olga")])
    german.work(ex.start_step, actor="olga", ref=number, path="UP1.OP1.PH2")
    with services.session_factory() as session:
        phase_ref = f"{ex.batch(session, number).id}:UP1.OP1.PH2"
    now = services.clock.now()
    with unit_of_work(services.session_factory) as session:
        state = session.get(PhaseState, phase_ref) or PhaseState(phase_ref=phase_ref, kind="dosing", unit="R-101")
        state.state, state.target, state.actual, state.quantity_unit = "running", Decimal(150), Decimal(0), "L"
        state.updated_at, state.started_at, state.reason = now, now, "dosing started"
        session.merge(state)
        session.add(
            TrendPoint(
                tag="R-101.totalizer", at=now, minimum=Decimal("1000.0"), mean=Decimal("1010.0"),
                maximum=Decimal("1020.0"), last=Decimal("1020.0"), samples=5, phase_ref=phase_ref,
            )
        )  # fmt: skip
    readings(german, "L", totalizer="1075.5", level="1075.5")
    received = read_stream(client_for(app, "olga"), f"/live/units/R-101?phase={phase_ref}", "event: phase")
    assert "Level in the destination: <strong>1075,5 L</strong>" in received
    assert "Dosed 75,5 L" in received
    assert 'aria-label="Dosed 75,5 of 150 L' in received
    assert "1075.5" not in received.split("event: phase", 1)[1], "no decimal point in the live phase figures"
    assert "1075,5 L" in received.split("event: readings", 1)[1], "the live readings table too"


@pytest.mark.requirement("URS-BAT-022")
def test_the_live_hold_setpoint_and_actual_use_the_decimal_comma(app: Flask, german: Floor) -> None:
    heated = copy.deepcopy(HOLD)
    phase = heated["unit_procedures"][0]["operations"][0]["phases"][0]
    phase["setpoints"] = [{"tag": "R-101.jacket_setpoint", "value": "40.5", "unit": "°C"}]
    number = german.batch(recipe(heated))
    german.work(german.execution.start_step, actor="olga", ref=number, path="UP1.OP1.PH1")
    readings(german, "°C", heat_sp_temperature="40.5", jacket_setpoint="40.5", temperature="38.7")
    with german.services.session_factory() as session:
        step_ref = f"{german.execution.batch(session, number).id}:UP1.OP1.PH1"
    received = read_stream(client_for(app, "olga"), f"/live/units/R-101?hold={step_ref}", "event: setpoints")
    assert 'actual temperature <strong class="live-reading">38,7 °C</strong>' in received
    assert "setpoint <strong>40,5 °C</strong>" in received
