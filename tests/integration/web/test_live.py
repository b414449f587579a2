"""Live values reach the browser as server-sent events, rendered from the runtime's tables."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from flask import Flask

from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from equipment.models import Alarm, Reading

PASSWORD = "Live-Stream-Pass-1"


@pytest.fixture
def operator_client(app: Flask, services: Services) -> object:
    with unit_of_work(services.session_factory) as session:
        services.users.create(
            session, actor="system:test", user_id="olga", full_name="Olga", roles=["operator"],
            password=PASSWORD, must_change=False,
        )  # fmt: skip
        now = services.clock.now()
        session.add(
            Reading(tag="R-101.level", value="512.5", number=Decimal("512.5"), unit="L", quality="Good",
                    source_ts=now, server_ts=now, updated_at=now)
        )  # fmt: skip
        session.add(
            Alarm(at=now - dt.timedelta(seconds=3), unit="R-101", phase_ref=None, condition="high_high_level",
                  tag="R-101.level", value="1980", message="dosing stopped at high-high level")
        )  # fmt: skip
    app.config["WTF_CSRF_ENABLED"] = False  # CSRF is proven in tests/integration/signatures
    client = app.test_client()
    client.post("/auth/login", data={"user_id": "olga", "password": PASSWORD})
    return client


@pytest.mark.requirement("URS-EQP-002")
def test_the_unit_stream_sends_live_readings_and_open_alarms_as_html_fragments(
    app: Flask, operator_client: object
) -> None:
    response = operator_client.get("/live/units/R-101", buffered=False)  # type: ignore[attr-defined]
    try:
        assert response.status_code == 200
        assert response.mimetype == "text/event-stream"
        received = ""
        for chunk in response.response:
            received += chunk.decode() if isinstance(chunk, bytes) else chunk
            if "event: alarms" in received and "event: readings" in received:
                break
    finally:
        response.close()
    assert "512.5 L" in received
    assert "HIGH HIGH LEVEL on R-101" in received
    assert "dosing stopped at high-high level" in received


def test_a_stranger_gets_no_stream(client: object) -> None:
    response = client.get("/live/units/R-101")  # type: ignore[attr-defined]
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]
