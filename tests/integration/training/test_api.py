"""/api/training: curricula, requirements, training records signed by the trainee, standing, expiries."""

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
from ebr.training.models import Curriculum, Requirement, TrainingRecord
from signatures.models import Signature
from tests.integration.execution.api_support import Api
from tests.integration.execution.conftest import PASSWORD, Floor
from tests.integration.training.support import REACTOR, add_curriculum, today, train


def _counts(services: Services) -> tuple[int, ...]:
    with services.session_factory() as session:
        rows = [
            session.scalar(select(func.count()).select_from(t)) or 0 for t in (Curriculum, Requirement, TrainingRecord)
        ]
        signatures = session.scalar(select(func.count()).select_from(Signature)) or 0
        events = session.scalar(select(func.count()).where(AuditEvent.action.like("training.%"))) or 0
        return (*rows, signatures, events)


@pytest.mark.requirement("URS-TRN-001")
def test_a_supervisor_records_a_training_that_the_trainee_signs(app: Flask, floor: Floor, services: Services) -> None:
    quinn, sam = Api(app.test_client(), "quinn"), Api(app.test_client(), "sam")
    made = add_curriculum(quinn)
    assert made["sops"] == ["SOP-R101-01", "SOP-GMP-02"]
    assert made["validity_days"] == 365
    assert [c["name"] for c in Api(app.test_client(), "olga").call("GET", "/api/training/curricula")] == [REACTOR]
    record = train(sam, "olga", comment="on the floor")
    assert record["trainee"] == "olga"
    assert record["trainer"] == "sam"
    assert record["recorded_by"] == "sam"
    assert record["expires_on"] == (dt.date.fromisoformat(today()) + dt.timedelta(days=365)).isoformat()
    with services.session_factory() as session:
        signed = services.signing.get(session, record["signature_id"])
    assert signed.signer == "olga"
    assert signed.meaning == "trained"
    assert signed.subject.id == record["id"]
    listed = sam.call("GET", "/api/training/records?trainee=olga")
    assert [r["id"] for r in listed] == [record["id"]]
    person = sam.call("GET", "/api/training/people/olga")
    assert person["curricula"] == [{"curriculum": REACTOR, "standing": "valid", "until": record["expires_on"]}]
    otto = sam.call("GET", "/api/training/people/otto")
    assert otto["curricula"][0]["standing"] == "missing"
    assert sam.call("GET", "/api/training/expiring?days=400")[0]["trainee"] == "olga"
    assert sam.call("GET", "/api/training/expiring?days=30") == []


@pytest.mark.requirement("URS-TRN-001", "URS-TRN-003")
def test_trainings_nobody_may_record_are_refused_and_nothing_is_stored(
    app: Flask, floor: Floor, services: Services
) -> None:
    quinn, sam, olga = (Api(app.test_client(), u) for u in ("quinn", "sam", "olga"))
    add_curriculum(quinn)
    before = _counts(services)
    own = train(olga, "olga", expect=403)  # an operator recording (their own) training
    assert "training.record" in own["message"]
    self_recorded = train(sam, "sam", expect=422)
    assert "sam cannot record their own training" in self_recorded["message"]
    for_another = train(sam, "olga", signature={"user_id": "otto", "password": PASSWORD}, expect=422)
    assert "otto cannot sign for olga" in for_another["message"]
    wrong = train(sam, "olga", signature={"user_id": "olga", "password": "not hers"}, expect=(401, 403))
    assert wrong["error"]
    backdated = (dt.date.fromisoformat(today()) - dt.timedelta(days=40)).isoformat()
    late = train(sam, "olga", trained_on=backdated, expect=422)
    assert "more than 30 days ago" in late["message"]
    tomorrow = (dt.date.fromisoformat(today()) + dt.timedelta(days=1)).isoformat()
    assert "in the future" in train(sam, "olga", trained_on=tomorrow, expect=422)["message"]
    too_long = (dt.date.fromisoformat(today()) + dt.timedelta(days=500)).isoformat()
    assert "later than curriculum" in train(sam, "olga", expires_on=too_long, expect=422)["message"]
    assert "own trainer" in train(sam, "olga", trainer="olga", expect=422)["message"]
    assert train(sam, "nobody", signature={"user_id": "nobody", "password": "x"}, expect=404)["error"] == "NotFound"
    operator_curriculum = olga.call("POST", "/api/training/curricula", {"name": "X"}, expect=403)
    assert "training.manage" in operator_curriculum["message"]
    assert _counts(services)[:3] == before[:3]
    assert _counts(services)[4] == before[4]


@pytest.mark.requirement("URS-TRN-002")
def test_qa_keeps_the_requirements_and_removes_one_with_a_reason(app: Flask, floor: Floor) -> None:
    quinn, sam = Api(app.test_client(), "quinn"), Api(app.test_client(), "sam")
    add_curriculum(quinn)
    body = {"curriculum": REACTOR, "kind": "phase_type", "target": "dosing", "unit": "R-101"}
    made = quinn.call("POST", "/api/training/requirements", body, expect=201)
    assert made["unit"] == "R-101"
    assert "already requires" in quinn.call("POST", "/api/training/requirements", body, expect=422)["message"]
    narrowed = quinn.call(
        "POST", "/api/training/requirements", {"curriculum": REACTOR, "kind": "recipe", "target": "S", "unit": "R-1"},
        expect=422,
    )  # fmt: skip
    assert "only a phase-type requirement" in narrowed["message"]
    assert sam.call("POST", "/api/training/requirements", body, expect=403)["error"]
    assert [r["target"] for r in sam.call("GET", "/api/training/requirements")] == ["dosing"]
    removal = f"/api/training/requirements/{made['id']}/removal"
    assert quinn.call("POST", removal, {}, expect=422)["error"]
    assert quinn.client.post(removal, json={"reason": "dosing moved to automation"}).status_code == 204
    assert sam.call("GET", "/api/training/requirements") == []


ANY = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**12), 10**12), st.floats(allow_nan=False), st.text(max_size=40),
    st.dates().map(str), st.text(max_size=300), st.dictionaries(st.text(max_size=10), st.text(max_size=10)),
)  # fmt: skip
RECORD_KEYS = ["curriculum", "trainee", "trainer", "trained_on", "expires_on", "comment", "signature", "x"]
OTHER_KEYS = ["name", "description", "sops", "validity_days", "curriculum", "kind", "target", "unit", "x"]


def _body(keys: list[str]) -> st.SearchStrategy[Any]:
    fixed = {
        "curriculum": st.sampled_from([REACTOR, "nope"]), "trainee": st.sampled_from(["olga", "sam", "nobody"]),
        "trained_on": st.one_of(st.dates().map(str), st.just(today())),
        "signature": st.fixed_dictionaries(
            {"user_id": st.sampled_from(["olga", "otto", ""]), "password": st.sampled_from([PASSWORD, "x"])}
        ),
        "kind": st.sampled_from(["phase_type", "recipe", "equipment", "bad"]),
    }  # fmt: skip
    value = st.sampled_from(keys).flatmap(lambda k: st.tuples(st.just(k), st.one_of(fixed.get(k, ANY), ANY)))
    return st.one_of(st.lists(value, max_size=len(keys)).map(dict), ANY)


@pytest.mark.requirement("URS-TRN-001")
def test_any_training_body_is_answered_without_a_crash_and_stores_nothing_when_refused(
    app: Flask, floor: Floor, services: Services
) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False
    quinn = Api(app.test_client(), "quinn")
    add_curriculum(quinn)

    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(
        url=st.sampled_from(["/api/training/records", "/api/training/curricula", "/api/training/requirements"]),
        body=st.one_of(_body(RECORD_KEYS), _body(OTHER_KEYS)),
    )
    def check(url: str, body: Any) -> None:
        before = _counts(services)
        response = quinn.client.post(url, json=body)
        assert response.status_code in (201, 401, 403, 404, 409, 422, 429), (body, response.status_code, response.json)
        if response.status_code != 201:
            assert set(response.json) >= {"error", "message"}
            after = _counts(services)
            assert after[:3] == before[:3], body
            assert after[4] == before[4], body

    check()
