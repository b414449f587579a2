"""/api/equipment: status, logbook, cleaning, calibration with its impact assessment, maintenance."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from audit.models import AuditEvent
from ebr.bootstrap import Services
from equipment.models import CalibrationRecord, MaintenanceRecord
from tests.integration.execution.api_support import Api
from tests.integration.execution.conftest import PASSWORD, SIMPLE, Floor, recipe, sig

SAM_SIG = {"user_id": "sam", "password": PASSWORD}


def _run_first_steps(floor: Floor) -> str:
    """A SIMPLE batch whose first two steps ran on R-101."""
    ex = floor.execution
    number = floor.batch(recipe(SIMPLE))
    floor.work(ex.start_step, actor="olga", ref=number, path="UP1.OP1.PH1")
    floor.work(ex.complete_step, actor="olga", ref=number, path="UP1.OP1.PH1", signatures=[sig("olga")])
    return number


def _counts(services: Services) -> tuple[int, int, int]:
    with services.session_factory() as session:
        return (
            session.scalar(select(func.count()).select_from(CalibrationRecord)) or 0,
            session.scalar(select(func.count()).select_from(MaintenanceRecord)) or 0,
            session.scalar(select(func.count()).where(AuditEvent.action.like("equipment.%"))) or 0,
        )


@pytest.mark.requirement("URS-EQP-020", "URS-EQP-021")
def test_a_failed_calibration_takes_the_unit_to_maintenance_and_lists_the_batches_since_the_last_pass(
    app: Flask, floor: Floor
) -> None:
    sam = Api(app.test_client(), "sam")
    an_hour_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    passed = sam.call(
        "POST", "/api/equipment/R-101/calibrations",
        {"signature": SAM_SIG,
         "passed": True, "calibrated_at": an_hour_ago, "certificate": "CAL-100", "as_found": "20.4 °C at 20.0 °C",
         "as_left": "20.0 °C at 20.0 °C", "next_due": "2027-06-01"},
        expect=201,
    )  # fmt: skip
    assert passed["impact"] is None
    assert passed["performed_by"] == "sam"
    assert passed["due_at"].startswith("2027-06-01")
    number = _run_first_steps(floor)
    failed = sam.call(
        "POST", "/api/equipment/R-101/calibrations",
        {"signature": SAM_SIG,
         "passed": False, "certificate": "CAL-101", "as_found": "23.9 °C at 20.0 °C", "performed_by": "Acme Metrology",
         "contractor": True},
        expect=201,
    )  # fmt: skip
    assert failed["status"] == "maintenance"
    assert failed["performed_by"] == "Acme Metrology"
    assert failed["contractor"] is True
    assert failed["recorded_by"] == "sam"
    assert [b["batch"] for b in failed["impact"]["batches"]] == [number]
    assert failed["impact"]["batches"][0]["steps"][0] == "UP1.OP1.PH1"
    assert failed["impact"]["since"].startswith(passed["calibrated_at"][:16])
    again = sam.call("GET", f"/api/equipment/R-101/calibrations/{failed['id']}")
    assert again["impact"] == failed["impact"]
    status = sam.call("GET", "/api/equipment/R-101")
    assert status["usable"] is False
    assert "maintenance" in status["problem"]


@pytest.mark.requirement("URS-EQP-021")
def test_batches_that_used_the_unit_before_its_last_pass_are_not_in_the_impact(app: Flask, floor: Floor) -> None:
    _run_first_steps(floor)
    sam = Api(app.test_client(), "sam")
    sam.call("POST", "/api/equipment/R-101/calibrations", {"signature": SAM_SIG, "passed": True}, expect=201)
    failed = sam.call("POST", "/api/equipment/R-101/calibrations", {"signature": SAM_SIG, "passed": False}, expect=201)
    assert failed["impact"]["batches"] == []


@pytest.mark.requirement("URS-EQP-020")
def test_only_supervisors_and_qa_record_calibrations_and_nothing_is_stored_when_refused(
    app: Flask, floor: Floor, services: Services
) -> None:
    before = _counts(services)
    olga = Api(app.test_client(), "olga")
    olga_sig = {"user_id": "olga", "password": PASSWORD}
    refused = olga.call("POST", "/api/equipment/SC-01/calibrations", {"passed": True, "signature": olga_sig}, 403)
    assert "equipment.calibrate" in refused["message"]
    assert "supervisor" in refused["message"]
    sam = Api(app.test_client(), "sam")
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()
    later = sam.call(
        "POST",
        "/api/equipment/SC-01/calibrations",
        {"signature": SAM_SIG, "passed": True, "calibrated_at": future},
        409,
    )
    assert "in the future" in later["message"]
    unknown = sam.call(
        "POST",
        "/api/equipment/SC-01/calibrations",
        {"signature": SAM_SIG, "passed": True, "performed_by": "nobody"},
        422,
    )
    assert "not a user id" in unknown["message"]
    assert sam.call("POST", "/api/equipment/NOPE/calibrations", {"signature": SAM_SIG, "passed": True}, expect=404)[
        "error"
    ]
    assert _counts(services) == before


@pytest.mark.requirement("URS-EQP-022")
def test_the_logbook_shows_usage_cleaning_calibration_maintenance_and_status_in_one_timeline(
    app: Flask, floor: Floor
) -> None:
    number = _run_first_steps(floor)
    sam = Api(app.test_client(), "sam")
    sam.call(
        "POST",
        "/api/equipment/R-101/calibrations",
        {"signature": SAM_SIG, "passed": False, "certificate": "CAL-9"},
        expect=201,
    )
    done = sam.call(
        "POST", "/api/equipment/R-101/maintenance",
        {"kind": "corrective", "description": "replaced the PT100", "return_to_service": True}, expect=201,
    )  # fmt: skip
    assert done["status"] == "dirty"
    assert done["returned_to_service"] is True
    lines = sam.call("GET", "/api/equipment/R-101/logbook")
    kinds = [line["kind"] for line in lines]
    assert {"usage", "cleaning", "calibration", "maintenance", "status"} <= set(kinds)
    assert [line["at"] for line in lines] == sorted(line["at"] for line in lines)
    usage = next(line for line in lines if line["kind"] == "usage")
    assert usage["reference"] == number
    assert any("FAILED" in line["what"] for line in lines if line["kind"] == "calibration")
    assert lines[-1]["kind"] == "status"
    assert "returned to service" in lines[-1]["what"]
    assert [m["description"] for m in sam.call("GET", "/api/equipment/R-101/maintenance")] == ["replaced the PT100"]


def test_equipment_list_status_and_cleaning_through_the_api(app: Flask, floor: Floor, services: Services) -> None:
    sam = Api(app.test_client(), "sam")
    listed = {e["tag"]: e for e in sam.call("GET", "/api/equipment")}
    assert listed["SC-01"]["requires_calibration"] is True
    assert listed["SC-01"]["usable"] is True
    assert sam.call("GET", "/api/equipment/SC-01/calibrations")[0]["certificate"] == "CAL-1"
    quinn = Api(app.test_client(), "quinn")
    refused = quinn.call("POST", "/api/equipment/R-101/cleanings", {"method": "CIP"}, expect=403)
    assert "equipment.clean" in refused["message"]
    with services.session_factory() as session:
        assert len(services.equipment.cleanings(session, "R-101")) == 1
    assert len(sam.call("GET", "/api/equipment/R-101/cleanings")) == 1


ANY = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**12), 10**12), st.floats(allow_nan=False), st.text(max_size=40),
    st.dates().map(str), st.datetimes(timezones=st.just(dt.UTC)).map(lambda d: d.isoformat()),
    st.text(max_size=3000),
)  # fmt: skip
CALIBRATION_KEYS = [
    "passed", "calibrated_at", "next_due", "certificate", "as_found", "as_left", "performed_by", "contractor",
    "comment", "other",
]  # fmt: skip
MAINTENANCE_KEYS = ["kind", "description", "performed_at", "performed_by", "contractor", "return_to_service", "x"]


def _bodies(keys: list[str]) -> st.SearchStrategy[Any]:
    return st.one_of(st.dictionaries(st.sampled_from(keys), ANY, max_size=len(keys)), ANY, st.lists(ANY, max_size=3))


@pytest.mark.requirement("URS-EQP-020")
def test_any_calibration_or_maintenance_body_is_answered_without_a_crash_and_stores_nothing_when_refused(
    app: Flask, floor: Floor, services: Services
) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False
    sam = Api(app.test_client(), "sam")

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(
        body=st.one_of(_bodies(CALIBRATION_KEYS), _bodies(MAINTENANCE_KEYS)),
        target=st.sampled_from(["c", "m"]),
        signed=st.booleans(),
    )
    def check(body: Any, target: str, signed: bool) -> None:
        url = "/api/equipment/SC-01/" + ("calibrations" if target == "c" else "maintenance")
        if signed and isinstance(body, dict) and target == "c":
            body = body | {"signature": SAM_SIG}
        before = _counts(services)
        response = sam.client.post(url, json=body)
        assert response.status_code in (201, 403, 404, 409, 422), (body, response.status_code, response.json)
        if response.status_code != 201:
            assert set(response.json) >= {"error", "message"}
            assert _counts(services) == before, body

    check()


def test_a_calibration_is_read_only_under_its_own_unit(app: Flask, floor: Floor) -> None:
    sam = Api(app.test_client(), "sam")
    failed = sam.call("POST", "/api/equipment/R-101/calibrations", {"signature": SAM_SIG, "passed": False}, expect=201)
    forged = sam.call("GET", f"/api/equipment/SC-01/calibrations/{failed['id']}", expect=404)
    assert "SC-01 has no calibration record" in forged["message"]
    assert sam.call("GET", "/api/equipment/SC-01/calibrations/no-such-id", expect=404)["error"] == "EquipmentNotFound"
