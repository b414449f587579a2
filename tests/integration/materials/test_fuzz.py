"""Whatever body a client sends to the lots API, the answer is an ``ErrorOut`` or a success,
never a 500, and a refused body stores nothing."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from audit.models import AuditEvent
from ebr.materials.models import Lot, LotSample
from tests.integration.execution.api_support import Api
from tests.integration.execution.conftest import Floor
from tests.integration.materials.support import decide, material, receipt, receive

TEXT = st.one_of(st.text(max_size=20), st.sampled_from(["", " ", "0", "-1", "1e400", "NaN", "2026-13-40", "12.5"]))
VALUES = st.one_of(TEXT, st.integers(), st.floats(allow_nan=True), st.none(), st.booleans(), st.lists(TEXT, max_size=3))


def stored(floor: Floor) -> tuple[int, int, int]:
    with floor.services.session_factory() as session:
        return (
            int(session.scalar(select(func.count()).select_from(Lot)) or 0),
            int(session.scalar(select(func.count()).select_from(LotSample)) or 0),
            int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0),
        )


def refused(response: Any) -> bool:
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        body = response.json
        assert isinstance(body, dict)
        assert body["error"]
        assert body["message"]
        return True
    return False


@pytest.mark.requirement("URS-MAT-003")
def test_fuzzed_receipts_and_decisions_never_fail_and_store_nothing_when_refused(app: Flask, floor: Floor) -> None:
    quinn = Api(app.test_client(), "quinn")
    material(quinn)
    receive(quinn, floor.services, "L-BASE")
    base = receipt(floor.services, "L-FUZZ")

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(changes=st.dictionaries(st.sampled_from([*base, "extra"]), VALUES, max_size=3))
    def attempt(changes: dict[str, Any]) -> None:
        before = stored(floor)
        response = quinn.client.post("/api/lots/receipts", json=base | changes)
        if refused(response):
            assert stored(floor) == before
        else:
            assert response.status_code == 201  # e.g. received_on null means today; the next same lot is refused

    attempt()

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        action=st.sampled_from(["release", "reject", "quarantine", "retest", "samples", "status"]),
        body=st.dictionaries(
            st.sampled_from(
                ["reason", "signature", "version", "container", "quantity", "purpose", "retest_on", "status"]
            ),
            VALUES,
            max_size=4,
        ),
    )
    def decision(action: str, body: dict[str, Any]) -> None:
        before = stored(floor)
        if refused(quinn.client.post(f"/api/lots/L-BASE/{action}", json=body)):
            assert stored(floor) == before

    decision()
    assert quinn.call("GET", "/api/lots/L-BASE")["status"] == "quarantine"
    assert decide(quinn, "L-BASE", "release")["status"] == "released"


def test_fuzzed_materials_never_fail_and_store_nothing_when_refused(app: Flask, floor: Floor) -> None:
    quinn = Api(app.test_client(), "quinn")
    base = {"code": "RM-F", "name": "F", "unit": "kg"}
    keys = [*base, "storage", "retest_interval_days", "potency_applies", "label_text", "hazardous", "extra"]

    @settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(changes=st.dictionaries(st.sampled_from(keys), VALUES, max_size=3))
    def attempt(changes: dict[str, Any]) -> None:
        before = stored(floor)
        response = quinn.client.post("/api/materials", json=base | changes)
        if refused(response):
            assert stored(floor) == before

    attempt()
