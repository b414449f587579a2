"""The auditor's search: by record (and its parts), user, action prefix and plant-local dates."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from flask.testing import FlaskClient

from audit.chain import Entity
from ebr.bootstrap import Services
from ebr.core.db import unit_of_work

PASSWORD = "Audit-Search-Pass-1"


@pytest.fixture
def auditor(app: Flask, services: Services) -> FlaskClient:
    with unit_of_work(services.session_factory) as session:
        services.users.create(
            session, actor="system:test", user_id="alex", full_name="Alex", roles=["auditor"],
            password=PASSWORD, must_change=False,
        )  # fmt: skip
        record = services.audit.record
        record(session, actor="olga", action="batch.started", entity=Entity("batch", "B-1"), after={"state": "Running"})
        record(
            session, actor="olga", action="batch.step.completed", entity=Entity("batch_step", "B-1/UP1.OP1.PH1"),
            before={"state": "Running"}, after={"state": "Complete"}, reason="done",
        )  # fmt: skip
        record(session, actor="sam", action="batch.started", entity=Entity("batch", "B-2"))
    app.config["WTF_CSRF_ENABLED"] = False
    client = app.test_client()
    client.post("/auth/login", data={"user_id": "alex", "password": PASSWORD})
    return client


def rows(client: FlaskClient, query: str) -> str:
    response = client.get(f"/audit/?{query}", headers={"HX-Request": "true"})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_data(as_text=True)


@pytest.mark.requirement("URS-AUD-007")
def test_a_record_id_finds_the_record_and_its_parts_with_old_and_new_values(auditor: FlaskClient) -> None:
    html = rows(auditor, "entity_id=B-1")
    assert "batch.started" in html
    assert "batch.step.completed" in html
    assert "B-2" not in html
    assert "Running" in html
    assert "Complete" in html
    assert "done" in html


@pytest.mark.requirement("URS-AUD-007")
def test_user_and_action_prefix_narrow_the_search(auditor: FlaskClient) -> None:
    assert "B-2" in rows(auditor, "actor=sam")
    assert "B-1" not in rows(auditor, "actor=sam")
    html = rows(auditor, "action=batch.step")
    assert "batch.step.completed" in html
    assert "batch.started" not in html


@pytest.mark.requirement("URS-AUD-007")
def test_dates_are_plant_days_and_a_bad_date_is_explained(auditor: FlaskClient, services: Services) -> None:
    today = services.clock.now().date()
    assert "B-1" in rows(auditor, f"date_from={today - dt.timedelta(days=1)}&date_to={today + dt.timedelta(days=1)}")
    assert "No event matches" in rows(auditor, f"date_to={today - dt.timedelta(days=2)}")
    response = auditor.get("/audit/?date_from=24.11.2026", headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert "use YYYY-MM-DD" in response.get_data(as_text=True)


@pytest.mark.requirement("URS-AUD-007")
def test_the_audit_page_shows_the_last_signed_checkpoint_instead_of_crashing(
    auditor: FlaskClient, services: Services
) -> None:
    """Regression: /audit/ answered 500 (DetachedInstanceError) as soon as a checkpoint existed."""
    from ebr.trail.services import ensure_system_key

    ensure_system_key(services)
    assert services.checkpointer is not None
    with unit_of_work(services.session_factory) as session:
        checkpoint = services.checkpointer.checkpoint(session)
    for headers in ({}, {"HX-Request": "true"}):
        response = auditor.get("/audit/", headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
    html = auditor.get("/audit/").get_data(as_text=True)
    assert f"event {checkpoint.seq} at" in html
    assert "none yet" not in html
