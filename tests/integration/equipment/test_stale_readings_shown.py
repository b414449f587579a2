"""A reading is shown as current only while the runtime that writes it is alive, connected and writing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from flask import Flask

from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from equipment.models import Heartbeat, Reading

PASSWORD = "Stale-Reading-Pass-1"


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
    app.config["WTF_CSRF_ENABLED"] = False  # CSRF is proven in tests/integration/signatures
    client = app.test_client()
    client.post("/auth/login", data={"user_id": "olga", "password": PASSWORD})
    return client


def _readings(client: object) -> str:
    response = client.get("/live/units/R-101", buffered=False)  # type: ignore[attr-defined]
    received = ""
    try:
        for chunk in response.response:
            received += chunk.decode() if isinstance(chunk, bytes) else chunk
            if "event: readings" in received and "</table>" in received.split("event: readings", 1)[1]:
                break
    finally:
        response.close()
    return received.split("event: readings", 1)[1].split("</table>", 1)[0]


def _beat(services: Services, *, connected: bool, detail: str) -> None:
    with unit_of_work(services.session_factory) as session:
        now = services.clock.now()
        session.merge(
            Heartbeat(runtime_id="Liquids-1", area="Liquids", host="h", pid=1, started_at=now, beat_at=now,
                      connected=connected, detail=detail)
        )  # fmt: skip


@pytest.mark.requirement("URS-SYS-022")
def test_a_reading_without_a_live_runtime_is_shown_stale(services: Services, operator_client: object) -> None:
    shown = _readings(operator_client)
    assert "512.5 L" in shown
    assert ">stale<" in shown
    assert "badge-ok" not in shown


@pytest.mark.requirement("URS-SYS-022")
def test_a_reading_the_runtime_cannot_write_is_shown_stale_with_the_reason(
    services: Services, operator_client: object
) -> None:
    _beat(services, connected=False, detail="plant: up; readings not written for 4.2 s: the values shown are stale")
    shown = _readings(operator_client)
    assert ">stale<" in shown
    assert "readings not written for 4.2 s" in shown


def test_a_reading_of_a_connected_runtime_shows_its_quality(services: Services, operator_client: object) -> None:
    _beat(services, connected=True, detail="plant: up")
    shown = _readings(operator_client)
    assert "badge-ok" in shown
    assert ">stale<" not in shown
