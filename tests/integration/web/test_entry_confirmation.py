"""Typing a value: an out-of-limit number asks "re-enter or record as deviation" before anything is stored;
a decimal comma is read where the plant's locale uses it."""

from __future__ import annotations

import html
from dataclasses import replace

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from ebr.bootstrap import Services
from ebr.execution.models import Deviation, StepEntry
from tests.integration.execution.conftest import PASSWORD, make_people, make_plant
from tests.integration.test_review_exceptions import Run
from tests.integration.web.test_verification_queue import client_for

HTMX = {"HX-Request": "true"}
PATH = "UP1.OP1.PH3"  # Temperature, numeric, 15–30 °C


@pytest.fixture
def at_temperature(services: Services) -> Run:
    make_people(services)
    make_plant(services, {"R-101": "unit"})
    run = Run(services, order="PO-T")
    run.run(("UP1.OP1.PH1", "UP1.OP1.PH2"))
    run.work(run.ex.start_step, actor="olga", ref=run.number, path=PATH)
    return run


def operator(app: Flask) -> FlaskClient:
    app.config["WTF_CSRF_ENABLED"] = False  # CSRF is proven in tests/integration/signatures
    client = app.test_client()
    assert client.post("/auth/login", data={"user_id": "olga", "password": PASSWORD}).status_code == 302
    return client


def stored(services: Services) -> tuple[int, int]:
    with services.session_factory() as session:
        values = session.scalar(select(func.count()).where(StepEntry.name == "value")) or 0
        devs = session.scalar(select(func.count()).select_from(Deviation)) or 0
    return values, devs


@pytest.mark.requirement("URS-BAT-003")
def test_an_out_of_limit_value_is_stored_only_after_the_operator_confirms_it(
    app: Flask, services: Services, at_temperature: Run
) -> None:
    olga, url = operator(app), f"/batches/{at_temperature.number}/steps/{PATH}/record"
    asked = olga.post(url, data={"value": "35"}, headers=HTMX)
    page = html.unescape(asked.get_data(as_text=True))
    assert asked.status_code == 200
    assert "35 °C is outside the limits." in page
    assert "Re-enter the value if it was a typing error, or record it as a deviation." in page
    assert "Record 35 °C as a deviation" in page
    assert stored(services) == (0, 0)
    retyped = olga.post(url, data={"value": "25"}, headers=HTMX)
    assert "Recorded." in retyped.get_data(as_text=True)
    assert stored(services) == (1, 0)


@pytest.mark.requirement("URS-BAT-003")
def test_a_confirmed_out_of_limit_value_opens_its_deviation(
    app: Flask, services: Services, at_temperature: Run
) -> None:
    olga, url = operator(app), f"/batches/{at_temperature.number}/steps/{PATH}/record"
    confirmed = olga.post(url, data={"value": "35", "out_of_limits": "record as deviation"}, headers=HTMX)
    assert "Recorded." in confirmed.get_data(as_text=True)
    assert stored(services) == (1, 1)


def test_a_decimal_comma_is_read_under_a_comma_locale(app: Flask, services: Services, at_temperature: Run) -> None:
    services.settings = replace(services.settings, plant_locale="de_DE")
    olga, url = operator(app), f"/batches/{at_temperature.number}/steps/{PATH}/record"
    recorded = olga.post(url, data={"value": "24,5"}, headers=HTMX)
    assert "Recorded." in recorded.get_data(as_text=True)
    with services.session_factory() as session:
        assert session.scalars(select(StepEntry.value).where(StepEntry.name == "value")).one() == "24.5"


def test_a_decimal_comma_under_english_is_refused_with_one_line(
    app: Flask, services: Services, at_temperature: Run
) -> None:
    olga, url = operator(app), f"/batches/{at_temperature.number}/steps/{PATH}/record"
    refused = olga.post(url, data={"value": "24,5"}, headers=HTMX)
    assert refused.status_code == 422
    assert "is not a number" in html.unescape(refused.get_data(as_text=True))
    assert stored(services) == (0, 0)


@pytest.mark.requirement("URS-BAT-003")
def test_numbers_are_shown_in_the_plants_locale_on_the_operators_pages_and_stay_canonical_in_exports(
    app: Flask, services: Services, at_temperature: Run
) -> None:
    services.settings = replace(services.settings, plant_locale="de_DE")
    number = at_temperature.number
    olga, url = operator(app), f"/batches/{number}/steps/{PATH}/record"
    asked = html.unescape(olga.post(url, data={"value": "35,50"}, headers=HTMX).get_data(as_text=True))
    assert "35,50 °C is outside the limits." in asked
    assert "Record 35,50 °C as a deviation" in asked
    assert 'name="value" value="35.50"' in asked  # the confirmation sends the canonical value back
    olga.post(url, data={"value": "24,50"}, headers=HTMX)
    panel = html.unescape(olga.get(f"/batches/{number}").get_data(as_text=True))
    assert "24,50 °C" in panel
    step_page = html.unescape(olga.get(f"/batches/{number}/steps/{PATH}").get_data(as_text=True))
    assert "24,50 °C" in step_page
    assert "24.50" not in step_page
    api = olga.get(f"/api/batches/{number}/steps/{PATH}").json
    assert api["entries"][0]["value"] == "24.50"
    bpr = client_for(app, "quinn").get(f"/records/batches/{number}/bpr.xml")  # QA reads the records
    assert bpr.status_code == 200, bpr.status_code
    assert "24.50" in bpr.get_data(as_text=True)
    assert "24,50" not in bpr.get_data(as_text=True)


def test_under_english_numbers_keep_their_decimal_point(app: Flask, services: Services, at_temperature: Run) -> None:
    olga, url = operator(app), f"/batches/{at_temperature.number}/steps/{PATH}/record"
    olga.post(url, data={"value": "24.50"}, headers=HTMX)
    step_page = html.unescape(olga.get(f"/batches/{at_temperature.number}/steps/{PATH}").get_data(as_text=True))
    assert "24.50 °C" in step_page


def test_a_value_in_limits_answers_with_its_step_panel_alone_and_the_dialog_signs_it(
    app: Flask, services: Services, at_temperature: Run
) -> None:
    olga, url = operator(app), f"/batches/{at_temperature.number}/steps/{PATH}/record"
    recorded = olga.post(url, data={"value": "24.5"}, headers=HTMX)
    page = html.unescape(recorded.get_data(as_text=True))
    # Nothing outside the step changed: htmx swaps the step's own panel, not the batch's work area.
    assert recorded.headers["HX-Retarget"] == "#step-UP1-OP1-PH3"
    assert recorded.headers["HX-Reswap"] == "outerHTML"
    assert page.lstrip().startswith('<article class="step" id="step-UP1-OP1-PH3"')
    assert 'role="status">Recorded.' in page
    assert 'id="work"' not in page
    # The panel shows the value and the signing dialog what will be signed: the new value with its unit.
    assert "<dd>24.5 °C</dd>" in page
    assert "Complete and sign step UP1.OP1.PH3" in page
    assert stored(services) == (1, 0)


def test_a_value_that_opens_a_deviation_answers_with_the_whole_work_area(
    app: Flask, services: Services, at_temperature: Run
) -> None:
    olga, url = operator(app), f"/batches/{at_temperature.number}/steps/{PATH}/record"
    confirmed = olga.post(url, data={"value": "35", "out_of_limits": "record as deviation"}, headers=HTMX)
    page = html.unescape(confirmed.get_data(as_text=True))
    assert "HX-Retarget" not in confirmed.headers
    assert '<div id="work">' in page
    assert "<h2>Deviations</h2>" in page  # the batch's deviation list below the panels follows
    assert stored(services) == (1, 1)
