"""The QA review page: a stopped batch shows how it ended, its commands, and a disposition form per exception."""

from __future__ import annotations

import html

import pytest
from flask import Flask

from ebr.bootstrap import Services
from tests.integration.execution.conftest import make_people, make_plant
from tests.integration.test_review_exceptions import Run, stopped
from tests.integration.web.test_verification_queue import client_for
from tests.support.auth import csrf_token


@pytest.mark.requirement("URS-QA-004")
def test_a_stopped_batch_is_no_longer_shown_as_without_exceptions_and_qa_dispositions_each(
    app: Flask, services: Services
) -> None:
    make_people(services)
    make_plant(services, {"R-101": "unit"})
    number = stopped(Run(services, order="PO-WEB"))
    quinn = client_for(app, "quinn")
    page = html.unescape(quinn.get(f"/review/batches/{number}").get_data(as_text=True))
    assert "No exceptions" not in page
    assert f"Batch {number} ended Stopped, not Complete" in page
    assert "stop of the batch by sam" in page
    assert "reason: reactor jacket leaking" in page
    assert "3 without a disposition" in page
    assert "Record disposition 1" in page
    form = {"csrf_token": csrf_token(quinn, f"/review/batches/{number}"), "key": "end:Stopped", "comment": " "}
    refused = quinn.post(f"/review/batches/{number}/exceptions", data=form)
    assert refused.status_code == 422
    form["comment"] = "Stopped for a leak; contents quarantined for investigation."
    done = quinn.post(f"/review/batches/{number}/exceptions", data=form, follow_redirects=True)
    page = html.unescape(done.get_data(as_text=True))
    assert "disposition recorded" in page
    assert "Disposition by quinn" in page
    assert "2 without a disposition" in page
    assert "Type the batch number" not in page  # the release form appears only once reviewed
