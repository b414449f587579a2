"""/api/oee and /api/downtime on a day whose figures are computed by hand (support.run_day),
the reason given to a stop, a state set by a supervisor, and who may do which."""

from __future__ import annotations

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from audit.models import AuditEvent
from ebr.core.db import unit_of_work
from ebr.performance import services as perf
from ebr.performance.models import StopReason, UnitState
from tests.integration.execution.api_support import Api
from tests.integration.execution.conftest import PASSWORD
from tests.integration.performance.support import UNIT, Line, run_day

WINDOW = {"since": "2026-03-02T06:00:00Z", "until": "2026-03-02T08:00:00Z"}


def supervisor_sets_down(line: Line) -> None:
    with unit_of_work(line.services.session_factory) as session:
        perf.set_state(
            session, line.services.audit, line.clock, actor="sam", unit=UNIT, state="down", cause="seal leak"
        )


@pytest.fixture
def day(line: Line) -> str:
    return run_day(line, down=supervisor_sets_down)


@pytest.mark.requirement("URS-OEE-003")
def test_the_oee_of_the_day_is_the_hand_computed_one(app: Flask, day: str) -> None:
    api = Api(app.test_client(), "quinn")
    response = api.client.get("/api/oee", query_string={**WINDOW, "area": "Formulation"})
    assert response.status_code == 200, response.json
    kpis = response.json["kpis"]
    assert kpis["availability"] == "0.7778"  # 70 / 90 min
    assert kpis["effectiveness"] == "0.7429"  # 52 / 70 min
    assert kpis["quality"] == "1.0000"
    assert kpis["oee"] == "0.5778"  # 26 / 45
    assert (kpis["mtbf_s"], kpis["mttr_s"], kpis["failures"]) == ("4200.0", "1200.0", 1)
    assert (kpis["running_s"], kpis["down_s"], kpis["planned_downtime_s"]) == ("4200.0", "1200.0", "1800.0")
    assert response.json["by_unit"][UNIT]["oee"] == "0.5778"
    assert response.json["batches"] == [
        {"batch": day, "product": "FG-SIMPLE", "planned_s": "3120.0", "actual_s": "6000.0"}
    ]


@pytest.mark.requirement("URS-OEE-001")
def test_the_history_shows_each_state_with_its_cause_and_the_database_refuses_to_rewrite_it(
    app: Flask, day: str, line: Line
) -> None:
    api = Api(app.test_client(), "olga")
    history = api.client.get("/api/downtime", query_string={**WINDOW, "unit": UNIT}).json
    assert [(s["state"], s["cause"], s["seconds"]) for s in history["states"]] == [
        ("planned", "no order", "600.000"),
        ("running", "", "1800.000"),
        ("down", "seal leak", "1200.000"),
        ("running", "", "900.000"),  # steps 2–6 back to back: each its own row, no idle time between
        ("running", "", "600.000"),
        ("running", "", "300.000"),
        ("running", "", "120.000"),
        ("running", "", "480.000"),
        ("planned", "no order", "1200.000"),
    ]
    states = [(s["state"], s["seconds"]) for s in history["states"]]
    assert states[0] == ("planned", "600.000")
    assert ("down", "1200.000") in states
    assert sum(float(s) for _, s in states) == 7200
    assert [s["needs_reason"] for s in history["stops"]] == [True]
    with pytest.raises(Exception, match="append-only"), line.services.engine.begin() as connection:
        connection.execute(text("UPDATE performance_state SET state = 'running'"))


@pytest.mark.requirement("URS-OEE-002")
def test_an_operator_gives_the_stop_a_reason_from_the_tree_and_it_is_audited(app: Flask, day: str, line: Line) -> None:
    olga = Api(app.test_client(), "olga")
    stop = olga.client.get("/api/downtime", query_string={**WINDOW, "area": "Formulation"}).json["stops"][0]
    not_a_leaf = olga.client.post(f"/api/downtime/{stop['id']}/reason", json={"reason": "Mechanical"})
    assert not_a_leaf.status_code == 422
    assert "choose down to the last level" in not_a_leaf.json["message"]
    done = olga.call("POST", f"/api/downtime/{stop['id']}/reason", {"reason": "Mechanical / Pump seal"})
    assert (done["reason"], done["assigned_by"]) == ("Mechanical / Pump seal", "olga")
    replayed = olga.client.post(f"/api/downtime/{stop['id']}/reason", json={"reason": "Mechanical / Pump seal"})
    assert replayed.status_code == 409  # a replay changes nothing and adds no second record
    oee = olga.client.get("/api/oee", query_string={**WINDOW, "area": "Formulation"}).json
    assert oee["pareto"] == [{"reason": "Mechanical / Pump seal", "seconds": "1200.0", "stops": 1}]
    with line.services.session_factory() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "performance.downtime.reason_assigned")
        ).one()
        assert (event.actor, event.entity_id) == ("olga", str(stop["id"]))


@pytest.mark.requirement("URS-OEE-002")
def test_who_may_not_is_refused_and_nothing_is_stored(app: Flask, day: str, line: Line) -> None:
    quinn = Api(app.test_client(), "quinn")  # QA reads, but gives no reasons and sets no state
    stop = quinn.client.get("/api/downtime", query_string={**WINDOW, "area": "Formulation"}).json["stops"][0]
    assert (
        quinn.client.post(f"/api/downtime/{stop['id']}/reason", json={"reason": "Material / Late delivery"}).status_code
        == 403
    )
    olga = Api(app.test_client(), "olga")
    assert olga.client.post(f"/api/units/{UNIT}/state", json={"state": "planned", "cause": "PM"}).status_code == 403
    running = olga.client.get("/api/downtime", query_string={**WINDOW, "unit": UNIT}).json["states"][1]
    refused = olga.client.post(f"/api/downtime/{running['id']}/reason", json={"reason": "Material / Late delivery"})
    assert refused.status_code == 422  # a running period is no stop
    forged = olga.client.post("/api/downtime/999999/reason", json={"reason": "Material / Late delivery"})
    assert forged.status_code == 404
    with line.services.session_factory() as session:
        assert session.scalars(select(StopReason)).all() == []


def test_a_supervisor_sets_planned_downtime_with_a_reason(app: Flask, day: str, line: Line) -> None:
    sam = Api(app.test_client(), "sam")
    done = sam.call("POST", f"/api/units/{UNIT}/state", {"state": "planned", "cause": "preventive maintenance PM-12"})
    assert done["state"] == "planned"
    assert sam.client.post(f"/api/units/{UNIT}/state", json={"state": "running", "cause": "x"}).status_code == 422
    with line.services.session_factory() as session:
        row = session.get(UnitState, done["id"])
        assert row is not None
        assert (row.source, row.actor) == ("person", "sam")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    query=st.dictionaries(
        st.sampled_from(["since", "until", "area", "unit", "product", "shift"]),
        st.text(max_size=30) | st.sampled_from(["2026-03-02T06:00:00Z", "2026-03-02", "2020-01-01T00:00:00+00:00"]),
    ),
    body=st.one_of(st.none(), st.text(max_size=20), st.dictionaries(st.text(max_size=8), st.text(max_size=20))),
)
def test_any_query_or_body_is_answered_without_a_traceback_and_stores_nothing(
    app: Flask, line: Line, query: dict[str, str], body: object
) -> None:
    client = app.test_client()
    assert client.post("/api/session", json={"user_id": "olga", "password": PASSWORD}).status_code == 200
    for url in ("/api/oee", "/api/downtime"):
        response = client.get(url, query_string=query)
        assert response.status_code in (200, 400, 422), response.data
        assert response.is_json
    response = client.post("/api/downtime/1/reason", json=body)
    assert response.status_code in (400, 404, 422), response.data
    with line.services.session_factory() as session:
        assert session.scalars(select(StopReason)).all() == []
