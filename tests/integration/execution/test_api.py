"""The JSON API: authentication and the permission table on every endpoint, JSON errors, a batch run."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from flask import Flask

from ebr.bootstrap import Services
from tests.integration.execution.api_support import Api, approve_recipe
from tests.integration.execution.conftest import PASSWORD, SIMPLE, Floor


@pytest.fixture
def simple_recipe(services: Services, floor: Floor) -> str:
    return approve_recipe(services, yaml.safe_dump(SIMPLE, allow_unicode=True), "simple.yaml")


def test_the_openapi_document_describes_every_endpoint(app: Flask) -> None:
    spec = app.test_client().get("/api/openapi.json").json
    assert "/api/batches/{ref}/steps/{path}/complete" in spec["paths"]
    assert "/api/lots/{lot_number}/status" in spec["paths"]
    assert spec["components"]["schemas"]["BatchCreateIn"]["required"] == ["order", "recipe", "size"]


@pytest.mark.requirement("URS-SEC-002")
def test_every_api_endpoint_refuses_an_anonymous_caller_with_json(app: Flask) -> None:
    client = app.test_client()
    spec = client.get("/api/openapi.json").json
    for path, operations in spec["paths"].items():
        url = path.replace("{ref}", "B1").replace("{path}", "UP1.OP1.PH1").replace("{lot_number}", "L1")
        url = url.replace("{entry_id}", "E1")
        for method in operations:
            if path == "/api/session" or method not in ("get", "post", "put", "patch", "delete"):
                continue
            response = client.open(url, method=method.upper(), json={})
            assert response.status_code == 401, (method, url)
            assert response.json["message"] == "log in first"


@pytest.mark.requirement("URS-SEC-002", "URS-BAT-001")
def test_a_batch_is_created_through_the_api_only_with_permission_and_from_the_effective_version(
    app: Flask, simple_recipe: str
) -> None:
    auditor_refused = Api(app.test_client(), "olga").call(
        "POST", "/api/batches", {"recipe": simple_recipe, "size": "100", "order": "PO-7"}, expect=403
    )
    assert "batch.create" in auditor_refused["message"]
    sam = Api(app.test_client(), "sam")
    wrong = sam.call(
        "POST", "/api/batches", {"recipe": "SIMPLE@9", "size": "100", "order": "PO-7"}, expect=(400, 409, 422)
    )
    assert "not the effective version" in wrong["message"]
    too_big = sam.call(
        "POST", "/api/batches", {"recipe": simple_recipe, "size": "1000", "order": "PO-7"}, expect=(400, 422)
    )
    assert "outside the range" in too_big["message"]
    created = sam.call("POST", "/api/batches", {"recipe": simple_recipe, "size": "120", "order": "PO-7"}, expect=201)
    assert (created["status"], created["size"], created["recipe_version"]) == ("created", "120", "1")


@pytest.mark.requirement("URS-BAT-002", "URS-BAT-008")
def test_a_batch_runs_through_the_api_with_operator_and_supervisor_signatures(app: Flask, simple_recipe: str) -> None:
    sam, olga = Api(app.test_client(), "sam"), Api(app.test_client(), "olga")
    number = sam.call("POST", "/api/batches", {"recipe": simple_recipe, "size": "100", "order": "PO-8"})["number"]
    sam.call("POST", f"/api/batches/{number}/release", {})
    olga.call("POST", f"/api/batches/{number}/start", {})
    olga.start(number, "UP1.OP1.PH1")
    olga.complete(number, "UP1.OP1.PH1")
    early = olga.call("POST", f"/api/batches/{number}/steps/UP1.OP1.PH3/start", {}, expect=409)
    assert "out of sequence" in early["message"]
    olga.start(number, "UP1.OP1.PH2")
    missing = olga.complete(number, "UP1.OP1.PH2", meanings=(), verifier=sam, expect=422)
    assert "'performed' signature" in missing["message"]
    olga.complete(number, "UP1.OP1.PH2", verifier=sam)
    olga.start(number, "UP1.OP1.PH3")
    bad = olga.record(number, "UP1.OP1.PH3", {"value": "warm"}, expect=422)
    assert "is not a number" in bad["message"]
    unconfirmed = olga.complete(number, "UP1.OP1.PH3", values={"value": 35.5}, expect=409)
    assert "confirm_out_of_limit" in unconfirmed["message"]
    blocked = olga.call(
        "POST",
        f"/api/batches/{number}/steps/UP1.OP1.PH3/complete",
        {"values": {"value": 35.5}, "confirm_out_of_limit": True, "signatures": [olga.sig()]},
    )
    assert blocked["completed"] is False
    assert blocked["blocked_by"]
    deviation = blocked["blocked_by"][0]
    refused = olga.call(
        "POST",
        f"/api/deviations/{deviation}/signatures",
        {"comment": "ok", "signature": olga.sig("verified")},
        expect=403,
    )
    assert "deviation.handle" in refused["message"]
    sam.call(
        "POST",
        f"/api/deviations/{deviation}/signatures",
        {"comment": "thermometer drift, product unaffected", "signature": sam.sig("verified")},
    )
    olga.complete(number, "UP1.OP1.PH3")
    entry = olga.step(number, "UP1.OP1.PH3")["entries"][0]
    assert entry["value"] == "35.5"
    assert entry["in_limits"] is False
    olga.start(number, "UP1.OP2.PH1")
    olga.complete(number, "UP1.OP2.PH1", values={"sample_id": "S-77"})
    olga.start(number, "UP1.OP2.PH2")
    olga.complete(number, "UP1.OP2.PH2")
    hold = olga.call("POST", f"/api/batches/{number}/commands", {"command": "hold"}, expect=403)
    assert "batch.command.hold" in hold["message"]
    olga.start(number, "UP1.OP2.PH3")
    olga.complete(number, "UP1.OP2.PH3", verifier=sam)
    batch = olga.call("GET", f"/api/batches/{number}")
    assert (batch["status"], batch["state"]) == ("complete", "Complete")
    assert batch["open_deviations"] == []
    genealogy = olga.call("GET", f"/api/batches/{number}/genealogy")
    assert genealogy["outputs"] == [number]


@pytest.mark.requirement("URS-BAT-008", "URS-SIG-004")
def test_a_step_completed_without_its_verification_is_verified_later_through_the_api(
    app: Flask, simple_recipe: str
) -> None:
    sam, olga = Api(app.test_client(), "sam"), Api(app.test_client(), "olga")
    number = sam.call("POST", "/api/batches", {"recipe": simple_recipe, "size": "100", "order": "PO-9"})["number"]
    sam.call("POST", f"/api/batches/{number}/release", {})
    olga.call("POST", f"/api/batches/{number}/start", {})
    olga.start(number, "UP1.OP1.PH1")
    olga.complete(number, "UP1.OP1.PH1")
    olga.start(number, "UP1.OP1.PH2")
    done = olga.complete(number, "UP1.OP1.PH2")
    assert done["completed"] is True
    assert done["step"]["data"]["verification"]["status"] == "pending"
    url = f"/api/batches/{number}/steps/UP1.OP1.PH2/verification"
    operator = olga.call("POST", url, {"user_id": "olga", "password": PASSWORD}, expect=403)
    assert "sign.verified" in operator["message"]
    # Signing in another person's name is refused before anything is looked up (403, naming both).
    someone_else = sam.call("POST", url, {"user_id": "sue", "password": PASSWORD}, expect=403)
    assert "signed in as 'sam'" in someone_else["message"]
    assert "'sue'" in someone_else["message"]
    step = sam.call("POST", url, {"user_id": "sam", "password": PASSWORD})
    assert {(s["meaning"], s["signer"]) for s in step["signatures"]} == {("performed", "olga"), ("verified", "sam")}
    assert step["data"]["verification"]["status"] == "verified"
    again = sam.call("POST", url, {"user_id": "sam", "password": PASSWORD}, expect=409)
    assert "already verified by sam" in again["message"]


def test_api_errors_are_json_with_an_actionable_message(app: Flask, floor: Floor, tmp_path: Path) -> None:
    olga = Api(app.test_client(), "olga")
    missing = olga.call("GET", "/api/batches/NOPE", expect=404)
    assert missing == {"error": "NotFound", "message": "no batch 'NOPE'; `ebr batch list` shows the batches"}
    invalid = olga.call("POST", "/api/batches/NOPE/steps/UP1/start", {"version": "x"}, expect=422)
    assert invalid["problems"] == ["json.version: Not a valid integer."]
