"""The execution view's forms: a double submission records once; the refusal is shown in the step panel."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.execution.models import StepEntry
from ebr.execution.service import build
from tests.integration.execution.conftest import PASSWORD, SIMPLE, make_people, make_plant, recipe

HTMX = {"HX-Request": "true"}


@pytest.fixture
def running(services: Services) -> str:
    make_people(services)
    make_plant(services, {"R-101": "unit"})
    ex = build(services)
    with unit_of_work(services.session_factory) as session:
        number: str = ex.create_from_recipe(
            session, actor="sam", master=recipe(SIMPLE), version="1", size="100", order="PO-1"
        ).number
    with unit_of_work(services.session_factory) as session:
        ex.release_to_floor(session, actor="sam", ref=number)
    return number


@pytest.fixture
def olga(app: Flask) -> FlaskClient:
    app.config["WTF_CSRF_ENABLED"] = False  # CSRF is proven in tests/integration/signatures
    client = app.test_client()
    assert client.post("/auth/login", data={"user_id": "olga", "password": PASSWORD}).status_code == 302
    return client


def step_version(services: Services, number: str, path: str) -> int:
    ex = build(services)
    with services.session_factory() as session:
        return ex.ctx.step(session, ex.batch(session, number), path).version


@pytest.mark.requirement("URS-BAT-007")
def test_the_same_form_submitted_twice_records_once_and_explains_the_second(
    services: Services, running: str, olga: FlaskClient
) -> None:
    number, base = running, f"/batches/{running}/steps"
    olga.post(f"/batches/{number}/start")
    olga.post(f"{base}/UP1.OP1.PH1/start", headers=HTMX)
    signature = {"meaning": "performed", "sig_performed_user": "olga", "sig_performed_password": PASSWORD}
    assert olga.post(f"{base}/UP1.OP1.PH1/complete", data=signature, headers=HTMX).status_code == 200
    path = "UP1.OP1.PH2"  # an instruction: the operator confirms it (the form a double tap would repeat)
    olga.post(f"{base}/{path}/start", headers=HTMX)
    version = step_version(services, number, path)
    form = {"confirmed": "yes", "version": str(version)}
    first = olga.post(f"{base}/{path}/record", data=form, headers=HTMX)
    second = olga.post(f"{base}/{path}/record", data=form, headers=HTMX)
    assert first.status_code == 200
    assert second.status_code == 409
    assert "was changed by" in second.get_data(as_text=True)
    with services.session_factory() as session:
        confirmed = session.scalars(select(StepEntry).where(StepEntry.name == "confirmed")).all()
    assert len(confirmed) == 1


def test_a_wrong_password_in_the_signing_dialog_leaves_the_step_running_and_says_why(
    running: str, olga: FlaskClient
) -> None:
    number, base = running, f"/batches/{running}/steps"
    olga.post(f"/batches/{number}/start")
    olga.post(f"{base}/UP1.OP1.PH1/start", headers=HTMX)
    signature = {"meaning": "performed", "sig_performed_user": "olga", "sig_performed_password": "wrong"}
    response = olga.post(f"{base}/UP1.OP1.PH1/complete", data=signature, headers=HTMX)
    assert response.status_code == 403
    html = response.get_data(as_text=True)
    assert 'role="alert"' in html
    assert "Complete and sign step UP1.OP1.PH1" in html  # still running, the operator can try again


def test_an_htmx_action_also_updates_the_batch_status_in_the_page_header(running: str, olga: FlaskClient) -> None:
    number, base = running, f"/batches/{running}/steps"
    page = olga.get(f"/batches/{number}").get_data(as_text=True)
    assert '<span id="batch-status">' in page
    assert "hx-swap-oob" not in page
    olga.post(f"/batches/{number}/start")
    html = olga.post(f"{base}/UP1.OP1.PH1/start", headers=HTMX).get_data(as_text=True)
    status = html[html.index('<span id="batch-status" hx-swap-oob="true">') :]
    assert "in execution" in status, "the header follows the batch without a page reload"


def test_a_plain_form_post_records_the_same_and_shows_the_message_on_the_reloaded_page(
    running: str, olga: FlaskClient
) -> None:
    number, base = running, f"/batches/{running}/steps"
    olga.post(f"/batches/{number}/start")
    olga.post(f"{base}/UP1.OP1.PH1/start", headers=HTMX)
    signature = {"meaning": "performed", "sig_performed_user": "olga", "sig_performed_password": PASSWORD}
    olga.post(f"{base}/UP1.OP1.PH1/complete", data=signature, headers=HTMX)
    olga.post(f"{base}/UP1.OP1.PH2/start", headers=HTMX)
    response = olga.post(f"{base}/UP1.OP1.PH2/record", data={"confirmed": "yes"}, follow_redirects=True)
    assert response.status_code == 200
    assert 'role="status">Recorded.' in response.get_data(as_text=True)
