"""Batch commands in the browser: only legal ones offered, hold with a reason, stop confirmed and signed."""

from __future__ import annotations

import html

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ebr.bootstrap import Services
from tests.integration.execution.conftest import PASSWORD, make_people, make_plant
from tests.integration.test_review_exceptions import Run
from tests.integration.web.test_verification_queue import client_for
from tests.support.auth import csrf_token


def page(client: FlaskClient, number: str) -> str:
    return html.unescape(client.get(f"/batches/{number}").get_data(as_text=True))


@pytest.mark.requirement("URS-BAT-009")
def test_the_batch_page_offers_legal_commands_and_ends_a_batch_only_when_confirmed_and_signed(
    app: Flask, services: Services
) -> None:
    make_people(services)
    make_plant(services, {"R-101": "unit"})
    number = Run(services, order="PO-CMD").number
    sam = client_for(app, "sam")
    shown = page(sam, number)
    assert f"Hold batch {number}" in shown
    assert f"Restart batch {number}" not in shown
    assert f"Sign and stop batch {number}" in shown
    assert shown.index(f"Hold batch {number}") < shown.index(f"Sign and stop batch {number}")

    token = csrf_token(sam, f"/batches/{number}")
    refused = sam.post(f"/batches/{number}/hold", data={"csrf_token": token, "reason": ""})
    assert refused.status_code == 422
    assert "a reason is required to hold batch" in refused.get_data(as_text=True)
    held = sam.post(f"/batches/{number}/hold", data={"csrf_token": token, "reason": "power dip"}, follow_redirects=True)
    shown = html.unescape(held.get_data(as_text=True))
    assert f"Batch {number} held (power dip)" in shown
    assert f"Restart batch {number}" in shown
    assert f"Hold batch {number}" not in shown

    stop = {"csrf_token": token, "reason": "jacket leak", "sig_user": "sam", "sig_password": PASSWORD}
    unconfirmed = sam.post(f"/batches/{number}/stop", data=stop)
    assert unconfirmed.status_code == 422
    assert f"tick the box that confirms you stop batch {number}" in unconfirmed.get_data(as_text=True)
    stopped = sam.post(f"/batches/{number}/stop", data=stop | {"confirm": f"batch {number}"}, follow_redirects=True)
    shown = html.unescape(stopped.get_data(as_text=True))
    assert f"Batch {number} stopped (jacket leak)" in shown
    assert "Sign and stop" not in shown
    assert f"Restart batch {number}" not in shown


def test_an_operator_sees_no_batch_commands(app: Flask, services: Services) -> None:
    make_people(services)
    make_plant(services, {"R-101": "unit"})
    number = Run(services, order="PO-OP").number
    shown = page(client_for(app, "olga"), number)
    assert f"Hold batch {number}" not in shown
    assert "End batch" not in shown
