"""The pages: calibration and maintenance forms, the failed calibration's impact, the printable
logbook and its PDF; training, the qualification matrix and the training record form."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask

from tests.integration.execution.api_support import Api
from tests.integration.execution.conftest import PASSWORD, SIMPLE, Floor, recipe, sig
from tests.integration.training.support import REACTOR, add_curriculum
from tests.integration.web.test_verification_queue import client_for


@pytest.mark.requirement("URS-EQP-021", "URS-EQP-022")
def test_a_failed_calibration_entered_in_the_form_shows_the_batches_to_assess(app: Flask, floor: Floor) -> None:
    ex = floor.execution
    number = floor.batch(recipe(SIMPLE))
    floor.work(ex.start_step, actor="olga", ref=number, path="UP1.OP1.PH1")
    floor.work(ex.complete_step, actor="olga", ref=number, path="UP1.OP1.PH1", signatures=[sig("olga")])
    app.config["WTF_CSRF_ENABLED"] = False
    sam = client_for(app, "sam")
    unit = sam.get("/equipment/R-101").get_data(as_text=True)
    assert "/equipment/R-101/logbook" in unit
    assert "Record a calibration" in sam.get("/equipment/R-101/logbook").get_data(as_text=True)
    assert sam.get("/equipment/R-101/calibrations/new").status_code == 200
    form = {"result": "failed", "certificate": "CAL-5", "as_found": "+4 °C", "performed_by": "sue"}
    form |= {"sig_user": "sam", "sig_password": PASSWORD}
    posted = sam.post("/equipment/R-101/calibrations", data=form)
    assert posted.status_code == 302
    page = sam.get(posted.headers["Location"]).get_data(as_text=True)
    assert "FAILED" in page
    assert "Impact assessment" in page
    assert number in page
    maintained = sam.post(
        "/equipment/R-101/maintenance",
        data={"kind": "corrective", "description": "new sensor", "return_to_service": "on"},
    )
    assert maintained.status_code == 302
    logbook = sam.get("/equipment/R-101/logbook?print=1").get_data(as_text=True)
    assert "logbook.css" in logbook
    assert "new sensor" in logbook
    pdf = sam.get("/equipment/R-101/logbook.pdf")
    assert pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF")
    olga = client_for(app, "olga")
    assert olga.get("/equipment/R-101/calibrations/new").status_code == 403
    assert olga.post("/equipment/R-101/calibrations", data=form).status_code == 403


@pytest.mark.requirement("URS-TRN-001", "URS-TRN-004")
def test_a_training_recorded_in_the_form_is_signed_by_the_trainee_and_shown_in_the_matrix(
    app: Flask, floor: Floor
) -> None:
    add_curriculum(Api(app.test_client(), "quinn"))
    app.config["WTF_CSRF_ENABLED"] = False
    sam = client_for(app, "sam")
    assert REACTOR in sam.get("/training/records/new").get_data(as_text=True)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    form = {"curriculum": REACTOR, "trainee": "olga", "trained_on": today, "sig_user": "olga", "sig_password": PASSWORD}
    assert sam.post("/training/records", data=form).status_code == 302
    matrix = sam.get("/training/matrix").get_data(as_text=True)
    assert "Olga Operator" in matrix
    assert "qualified until" in matrix
    assert "not trained" in matrix  # otto
    forged = sam.post("/training/records", data=form | {"trainee": "otto"})
    assert forged.status_code == 422
    assert "olga cannot sign for otto" in forged.get_data(as_text=True)
    person = sam.get("/training/people/olga").get_data(as_text=True)
    assert f"curriculum &#39;{REACTOR}&#39; valid until" in person
    assert "Training" in sam.get("/training/").get_data(as_text=True)
    olga = client_for(app, "olga")
    assert olga.get("/training/").status_code == 200
    assert olga.post("/training/records", data=form).status_code == 403
    quinn = client_for(app, "quinn")
    added = quinn.post("/training/requirements", data={"curriculum": REACTOR, "kind": "recipe", "target": "SIMPLE"})
    assert added.status_code == 302
    assert "recipe SIMPLE" in quinn.get("/training/").get_data(as_text=True)
