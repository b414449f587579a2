"""A calibration result is a GMP record signed "calibrated" by who records it (web, API, CLI),
bound to exactly what was recorded and shown with its signature in the equipment's history;
without a valid own signature nothing is stored."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy import func, select

from audit.chain import Entity
from audit.models import AuditEvent
from ebr.bootstrap import Services
from ebr.cli import main
from equipment.models import CalibrationRecord
from signatures.models import Signature
from tests.integration.execution.api_support import Api
from tests.integration.execution.conftest import PASSWORD, Floor
from tests.support.auth import csrf_token, login

URL = "/api/equipment/SC-01/calibrations"
BODY = {"passed": True, "certificate": "CAL-SC01-9", "as_found": "+0.4 g at 10 kg", "as_left": "+0.0 g at 10 kg"}


def _counts(services: Services) -> tuple[int, int, int]:
    with services.session_factory() as session:
        return (
            session.scalar(select(func.count()).select_from(CalibrationRecord)) or 0,
            session.scalar(select(func.count()).select_from(Signature)) or 0,
            session.scalar(select(func.count()).where(AuditEvent.action.like("equipment.%"))) or 0,
        )


def _ebr(services: Services, *args: str, stdin: str) -> Result:
    env = {"EBR_DATABASE_URL": services.settings.database_url, "EBR_DATA_DIR": str(services.settings.data_dir)}
    return CliRunner().invoke(main, list(args), env=env, input=stdin)


@pytest.mark.requirement("URS-EQP-031")
def test_a_calibration_through_the_api_is_signed_calibrated_and_bound_to_what_was_recorded(
    app: Flask, floor: Floor, services: Services
) -> None:
    sam = Api(app.test_client(), "sam")
    made = sam.call("POST", URL, BODY | {"signature": {"user_id": "sam", "password": PASSWORD}}, expect=201)
    signed = made["signature"]
    assert (signed["signer"], signed["printed_name"], signed["meaning"]) == ("sam", "Sam Supervisor", "calibrated")
    with services.session_factory() as session:
        [record] = services.signing.list_for_subject(session, Entity("calibration", made["id"]))
        content = services.signing.signed_content(session, record.id)
    assert record.id == signed["id"]
    assert content["unit"] == "SC-01"
    assert (content["passed"], content["as_found"], content["as_left"]) == (True, BODY["as_found"], BODY["as_left"])
    assert content["certificate"] == "CAL-SC01-9"
    again = sam.call("GET", f"{URL}/{made['id']}")
    assert again["signature"] == signed


@pytest.mark.requirement("URS-EQP-031")
@pytest.mark.parametrize(
    ("signature", "status"),
    [
        (None, 422),  # no signature at all
        ({"user_id": "sam", "password": "not his password"}, 403),
        ({"user_id": "sue", "password": PASSWORD}, 403),  # another supervisor's valid password
    ],
)
def test_a_calibration_without_a_valid_own_signature_stores_nothing(
    app: Flask, floor: Floor, services: Services, signature: dict[str, Any] | None, status: int
) -> None:
    before = _counts(services)
    body = BODY | ({"signature": signature} if signature else {})
    refused = Api(app.test_client(), "sam").call("POST", URL, body, expect=status)
    assert refused["message"]
    assert _counts(services)[:2] == before[:2]
    assert _counts(services)[2] == before[2]


@pytest.mark.requirement("URS-EQP-031", "URS-EQP-032")
def test_the_calibration_form_signs_and_the_logbook_shows_the_signature(
    app: Flask, floor: Floor, services: Services
) -> None:
    web = app.test_client()
    login(web, "quinn", PASSWORD)
    form_page = web.get("/equipment/SC-01/calibrations/new").get_data(as_text=True)
    assert 'name="sig_password"' in form_page
    assert "calibrated" in form_page
    token = csrf_token(web, "/equipment/SC-01/calibrations/new")
    form = {"csrf_token": token, "result": "passed", "as_found": "+0.2 g", "as_left": "+0.0 g", "sig_user": "quinn"}
    before = _counts(services)
    wrong = web.post("/equipment/SC-01/calibrations", data=form | {"sig_password": "wrong"})
    assert wrong.status_code in (401, 403, 422)
    assert _counts(services)[:2] == before[:2]
    done = web.post("/equipment/SC-01/calibrations", data=form | {"sig_password": PASSWORD})
    assert done.status_code == 302
    shown = web.get(done.headers["Location"]).get_data(as_text=True)
    assert "Quinn QA (quinn)" in shown
    assert '<span class="meaning">calibrated</span>' in shown
    for history in ("/equipment/SC-01/logbook", "/equipment/SC-01"):
        page = web.get(history).get_data(as_text=True)
        assert 'Quinn QA (quinn), <span class="meaning">calibrated</span>' in page, history


@pytest.mark.requirement("URS-EQP-031")
def test_ebr_equipment_calibrate_signs_with_the_password_read_once(floor: Floor, services: Services) -> None:
    before = _counts(services)
    wrong = _ebr(services, "equipment", "calibrate", "SC-01", "--passed", "--user", "sam", "--password-stdin",
                 stdin="wrong\n")  # fmt: skip
    assert wrong.exit_code != 0
    assert _counts(services) == before
    done = _ebr(services, "equipment", "calibrate", "SC-01", "--passed", "--as-found", "+0.1 g", "--user", "sam",
                "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "SC-01: calibration signed calibrated by Sam Supervisor (sam)" in done.output
    with services.session_factory() as session:
        assert session.scalar(select(func.count()).where(Signature.meaning == "calibrated")) == 1
