"""Complete now, verify later in the browser: the optional 'verified' fields and the supervisor's queue."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.execution.engine import pending_verification
from ebr.execution.service import build
from tests.integration.execution.conftest import PASSWORD, SIMPLE, make_people, make_plant, recipe, sig
from tests.support.auth import csrf_token, login

PATH = "UP1.OP1.PH2"  # an instruction that needs [performed, verified]
QUEUE = "/review/verification"


def work(services: Services, fn: Any, /, **kwargs: Any) -> Any:
    with unit_of_work(services.session_factory) as session:
        return fn(session, **kwargs)


@pytest.fixture
def running(services: Services) -> str:
    """A batch in execution whose UP1.OP1.PH2 is running, with its instruction confirmed by olga."""
    make_people(services)
    make_plant(services, {"R-101": "unit"})
    ex = build(services)
    number: str = work(
        services, ex.create_from_recipe, actor="sam", master=recipe(SIMPLE), version="1", size="100", order="PO-1"
    ).number
    work(services, ex.release_to_floor, actor="sam", ref=number)
    work(services, ex.start_batch, actor="olga", ref=number)
    work(services, ex.start_step, actor="olga", ref=number, path="UP1.OP1.PH1")
    work(services, ex.complete_step, actor="olga", ref=number, path="UP1.OP1.PH1", signatures=[sig("olga")])
    work(services, ex.start_step, actor="olga", ref=number, path=PATH)
    work(services, ex.record, actor="olga", ref=number, path=PATH, values={"confirmed": "yes"})
    return number


@pytest.fixture
def unverified(services: Services, running: str) -> str:
    """The same batch with UP1.OP1.PH2 completed by olga and its verification left for later."""
    work(services, build(services).complete_step, actor="olga", ref=running, path=PATH, signatures=[sig("olga")])
    return running


def client_for(app: Flask, user_id: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, user_id, PASSWORD).status_code == 302
    return client


def step(services: Services, number: str, path: str = PATH) -> Any:
    ex = build(services)
    with services.session_factory() as session:
        return ex.ctx.step(session, ex.batch(session, number), path)


def signers(services: Services, number: str) -> dict[str, str]:
    ex = build(services)
    with services.session_factory() as session:
        row = ex.ctx.step(session, ex.batch(session, number), PATH)
        return {s.meaning: s.signer for s in ex.ctx.signatures_of(session, "batch_step", row.id)}


def dialog_form(client: FlaskClient, number: str, **verified: str) -> dict[str, Any]:
    page = f"/batches/{number}"
    return {
        "csrf_token": csrf_token(client, page),
        "meaning": ["performed", "verified"],
        "sig_performed_user": "olga",
        "sig_performed_password": PASSWORD,
        "sig_verified_user": verified.get("user", ""),
        "sig_verified_password": verified.get("password", ""),
    }


def verification(client: FlaskClient, number: str, *, user: str, password: str = PASSWORD) -> Any:
    form = {"csrf_token": csrf_token(client, f"/batches/{number}"), "sig_user": user, "sig_password": password}
    return client.post(f"/review/batches/{number}/steps/{PATH}/verification", data=form)


@pytest.mark.requirement("URS-BAT-008")
def test_the_signing_dialog_makes_the_verified_fields_optional_with_a_hint(
    app: Flask, services: Services, running: str
) -> None:
    page = client_for(app, "olga").get(f"/batches/{running}").get_data(as_text=True)

    def field(name: str) -> str:
        found = re.search(rf'<input[^>]*name="{name}"[^>]*>', page)
        assert found, name
        return found.group(0)

    assert "required" not in field("sig_verified_user") + field("sig_verified_password")
    assert "required" in field("sig_performed_user")
    assert "required" in field("sig_performed_password")
    assert "Leave empty to have a supervisor verify later from the verification queue." in page


@pytest.mark.requirement("URS-BAT-008", "URS-SIG-001")
def test_half_a_verification_is_refused_and_the_step_keeps_running(
    app: Flask, services: Services, running: str
) -> None:
    olga = client_for(app, "olga")
    form = dialog_form(olga, running, user="sam")
    answer = olga.post(f"/batches/{running}/steps/{PATH}/complete", data=form, headers={"HX-Request": "true"})
    assert answer.status_code == 422
    text = answer.get_data(as_text=True)
    assert 'role="alert"' in text
    assert "needs both the verifier&#39;s user id and password" in text
    assert step(services, running).state == "Running"


@pytest.mark.requirement("URS-BAT-008")
def test_the_operator_completes_without_the_verifier_and_is_told_it_waits_in_the_queue(
    app: Flask, services: Services, running: str
) -> None:
    olga = client_for(app, "olga")
    form = dialog_form(olga, running)
    answer = olga.post(f"/batches/{running}/steps/{PATH}/complete", data=form, headers={"HX-Request": "true"})
    assert answer.status_code == 200
    assert "waits in the verification queue" in answer.get_data(as_text=True)
    row = step(services, running)
    assert (row.state, pending_verification(row)) == ("Complete", {"confirmed": "yes"})
    assert signers(services, running) == {"performed": "olga"}


@pytest.mark.requirement("URS-BAT-008", "URS-SIG-002")
def test_the_queue_shows_what_was_recorded_who_performed_it_and_what_is_signed(
    app: Flask, services: Services, unverified: str
) -> None:
    page = html.unescape(client_for(app, "sam").get(QUEUE).get_data(as_text=True))
    assert "Completed steps waiting for verification" in page
    assert f'aria-label="Verify step {PATH} of batch {unverified}"' in page
    assert f">Verify step {PATH} of batch {unverified}</button>" in page
    row = page[page.index(f'id="verify-{unverified}-UP1-OP1-PH2"') :]
    row = row[: row.index("</tr>")]
    assert "<dt>confirmed</dt><dd>yes</dd>" in row
    assert "olga, " in row
    assert 'value="sam"' in row  # the user id is the signed-in supervisor's
    assert 'name="csrf_token"' in row
    assert '<span class="meaning">verified</span>' in row


@pytest.mark.requirement("URS-BAT-008", "URS-SIG-001")
def test_a_refused_verification_says_why_and_stores_nothing(app: Flask, services: Services, unverified: str) -> None:
    sam = client_for(app, "sam")
    answer = verification(sam, unverified, user="sam", password="wrong")
    assert answer.status_code == 403
    text = answer.get_data(as_text=True)
    assert 'role="alert"' in text
    assert f'aria-label="Verify step {PATH} of batch {unverified}"' in text  # the queue, with the row still there
    assert signers(services, unverified) == {"performed": "olga"}
    assert pending_verification(step(services, unverified)) is not None


@pytest.mark.requirement("URS-BAT-008")
def test_a_verification_from_the_queue_signs_and_the_row_leaves_the_queue(
    app: Flask, services: Services, unverified: str
) -> None:
    sam = client_for(app, "sam")
    answer = verification(sam, unverified, user="sam")
    assert answer.status_code == 302
    page = sam.get(answer.headers["Location"]).get_data(as_text=True)
    assert f"Step {PATH} of batch {unverified} verified." in page
    assert 'role="status"' in page
    assert "No completed step waits for verification." in page
    assert signers(services, unverified) == {"performed": "olga", "verified": "sam"}


@pytest.mark.requirement("URS-SEC-002")
def test_an_operator_may_not_verify_and_a_post_without_csrf_is_refused(
    app: Flask, services: Services, unverified: str
) -> None:
    assert verification(client_for(app, "olga"), unverified, user="olga").status_code == 403
    sam = client_for(app, "sam")
    bare = sam.post(
        f"/review/batches/{unverified}/steps/{PATH}/verification", data={"sig_user": "sam", "sig_password": PASSWORD}
    )
    assert bare.status_code == 400
    assert signers(services, unverified) == {"performed": "olga"}


@pytest.mark.requirement("URS-QA-001")
def test_qa_review_lists_a_pending_verification_as_an_exception(
    app: Flask, services: Services, unverified: str
) -> None:
    page = client_for(app, "quinn").get(f"/review/batches/{unverified}").get_data(as_text=True)
    assert "verification pending" in page
    assert "waits for verification" in page
    assert f"/batches/{unverified}/steps/{PATH}" in page
