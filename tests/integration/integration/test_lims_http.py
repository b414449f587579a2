"""QC results from the LIMS over HTTP with a machine token (``POST /api/integration/lims/samples/<id>/results``).

The attacker's tests first: no token, a token of another scope, a revoked or expired
token, results posted to one sample for another (of another batch), a replayed
message and a message id reused for other content — each refused with the field
named and nothing stored. Then the accepted path: audited with the token's name as
its source, the step released, the same message twice answered once.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from audit.models import AuditEvent
from ebr.app import create_app
from ebr.core.db import unit_of_work
from ebr.integration import tokens
from ebr.integration.models import MachineToken
from tests.integration.execution.conftest import Floor, floor  # noqa: F401 - the fixture
from tests.integration.execution.test_samples import sampled
from tests.integration.integration.test_lims import complete, lims_token, message, stored

URL = "/api/integration/lims/samples/{}/results"


@pytest.fixture
def web(floor: Floor) -> Flask:  # noqa: F811 - the fixture's name
    return create_app(services=floor.services)


def post(app: Flask, sample: str, body: bytes, token: str | None, **headers: str) -> tuple[int, dict[str, Any]]:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    response = app.test_client().post(
        URL.format(sample), data=body, headers=headers | {"Content-Type": "application/json"}
    )
    return response.status_code, json.loads(response.data)


def events(floor: Floor, action: str) -> list[AuditEvent]:  # noqa: F811 - the fixture's name
    with floor.services.session_factory() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


@pytest.mark.requirement("URS-INT-021")
def test_without_a_live_lims_token_nothing_is_read(floor: Floor, web: Flask) -> None:  # noqa: F811
    sampled(floor, "S-H1")
    body = message("S-H1", ("pH", "5.2"), ("assay", "99"))
    erp = lims_token(floor.services, "ERP-1", tokens.INBOUND)
    revoked = lims_token(floor.services, "LIMS-OLD")
    expired = lims_token(floor.services, "LIMS-EXP")
    with unit_of_work(floor.services.session_factory) as session:
        tokens.revoke(session, audit=floor.services.audit, clock=floor.services.clock, actor="admin",
                      name="LIMS-OLD", reason="LIMS replaced")  # fmt: skip
        row = session.scalars(select(MachineToken).where(MachineToken.name == "LIMS-EXP")).one()
        row.expires_at = floor.services.clock.now() - dt.timedelta(seconds=1)
    before = stored(floor.services)
    assert post(web, "S-H1", body, None)[0] == 401
    assert post(web, "S-H1", body, "ebr_not-a-token")[0] == 401
    status, answer = post(web, "S-H1", body, revoked)
    assert (status, answer["status"], answer["error"]["field"]) == (401, "refused", "token")
    status, answer = post(web, "S-H1", body, expired)
    assert (status, answer["error"]["field"]) == (401, "token")
    assert "expired" in answer["error"]["problem"]
    status, answer = post(web, "S-H1", body, erp)  # a live token, but for the ERP's orders
    assert (status, answer["error"]["field"]) == (403, "token")
    assert "scope b2mml:inbound, not lims:results" in answer["error"]["problem"]
    live = lims_token(floor.services, "LIMS-LIVE")  # a LIMS token is no person: the person's endpoint refuses it
    person = web.test_client().post(
        "/api/samples/S-H1/results", json={"test": "pH", "value": "5.2"}, headers={"Authorization": f"Bearer {live}"}
    )
    assert person.status_code == 401
    assert stored(floor.services) == before
    refused = events(floor, "integration.token.refused")  # known tokens are audited, unknown ones are not
    assert [e.entity_id for e in refused] == ["LIMS-OLD", "LIMS-EXP", "ERP-1"]


@pytest.mark.requirement("URS-INT-022")
def test_results_for_a_sample_of_another_batch_are_refused_naming_the_sample(
    floor: Floor,  # noqa: F811 - the fixture's name
    web: Flask,
) -> None:
    secret = lims_token(floor.services)
    sampled(floor, "S-A", order="PO-A")
    sampled(floor, "S-B", order="PO-B")
    before = stored(floor.services)
    status, answer = post(web, "S-A", message("S-B", ("pH", "5.2"), ("assay", "99")), secret)
    assert (status, answer["error"]["field"]) == (422, "sample_id")
    assert "for sample 'S-B' but was sent to sample 'S-A'" in answer["error"]["problem"]
    status, answer = post(web, "S-NONE", message("S-NONE", ("pH", "5.2")), secret)
    assert (status, answer["error"]["field"]) == (422, "sample_id")
    status, answer = post(web, "S-A", message("S-A", ("pH", "5.2"), ("density", "1")), secret)
    assert (status, answer["error"]["field"]) == (422, "results[1]")
    assert stored(floor.services) == before


@pytest.mark.requirement("URS-INT-020", "URS-INT-023")
def test_results_over_http_are_audited_with_the_token_and_a_replay_changes_nothing(
    floor: Floor,  # noqa: F811 - the fixture's name
    web: Flask,
) -> None:
    secret = lims_token(floor.services, "LIMS-HTTP")
    number = sampled(floor, "S-H2")
    body = json.dumps(
        {
            "format": "ebr.lims.results/1",
            "results": [  # the sample is the URL's
                {"test": "pH", "value": "5.2", "analyst": "lab.jdoe"},
                {"test": "assay", "value": "99.1"},
            ],
        }
    ).encode()
    status, first = post(web, "S-H2", body, secret, **{"X-Message-Id": "LIMS-H-1"})
    assert (status, first["status"], first["sample_id"], first["message_id"]) == (200, "accepted", "S-H2", "LIMS-H-1")
    after = stored(floor.services)
    status, again = post(web, "S-H2", body, secret, **{"X-Message-Id": "LIMS-H-1"})  # replayed
    assert (status, again) == (200, first)
    assert stored(floor.services) == after
    status, reused = post(web, "S-H2", message("S-H2", ("pH", "4.0")), secret, **{"X-Message-Id": "LIMS-H-1"})
    assert (status, reused["error"]["field"]) == (422, "message_id")  # the same id for other content
    status, _ = post(web, "S-H2", message("S-H2", ("pH", "4.0")), secret)  # a new id: the results are in
    assert status == 422
    assert stored(floor.services) == after
    assert complete(floor, number).completed
    [applied] = events(floor, "lims.message.applied")
    assert applied.actor == "lims:LIMS-HTTP"
    for part in (b'"channel":"lims:http"', b'"token":"LIMS-HTTP"', b'"sample":"S-H2"', b'"analyst":"lab.jdoe"'):
        assert part in applied.canonical
    assert {e.actor for e in events(floor, "sample.result.entered")} == {"lims:LIMS-HTTP"}


@pytest.mark.requirement("URS-INT-022")
def test_any_body_is_answered_in_json_and_nothing_is_stored(floor: Floor, web: Flask) -> None:  # noqa: F811
    secret = lims_token(floor.services)
    sampled(floor, "S-H3")
    before = stored(floor.services)

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        body=st.one_of(
            st.binary(max_size=300),
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                max_leaves=12,
            ).map(lambda v: json.dumps(v).encode()),
            st.fixed_dictionaries(
                {
                    "format": st.just("ebr.lims.results/1"),
                    "results": st.lists(
                        st.fixed_dictionaries({"test": st.text(max_size=8), "value": st.text(max_size=8)}), max_size=3
                    ),
                }
            ).map(lambda v: json.dumps(v).encode()),
        )
    )
    def refused(body: bytes) -> None:
        status, answer = post(web, "S-H3", body, secret)
        assert status == 422, answer
        if b"\x00" in body or b"\\u0000" in body:  # refused before the view, by the app's NUL check
            assert answer["error"] == "ValidationError"
            return
        assert answer["status"] == "refused"
        assert answer["error"]["field"]
        assert answer["error"]["problem"]

    refused()
    assert stored(floor.services) == before
