"""Admin unlocks a locked account with a reason; recipes are authored and approved (never by the author) in the UI."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from audit.models import AuditEvent
from ebr.bootstrap import Services
from ebr.core.db import unit_of_work

PASSWORD = "Admin-Pages-Pass-1"
EXAMPLE = Path(__file__).resolve().parents[3] / "recipes" / "examples" / "paracetamol-oral-solution.yaml"


@pytest.fixture
def people(app: Flask, services: Services) -> None:
    app.config["WTF_CSRF_ENABLED"] = False  # CSRF is proven in tests/integration/signatures
    with unit_of_work(services.session_factory) as session:
        for user_id, role in (
            ("ada", "admin"),
            ("olga", "operator"),
            ("rita", "recipe_author"),
            ("ray", "recipe_approver"),
            ("sam", "supervisor"),
        ):
            services.users.create(
                session, actor="system:test", user_id=user_id, full_name=user_id.title(), roles=[role],
                password=PASSWORD, must_change=False,
            )  # fmt: skip
            services.users.accept_accountability(session, user_id=user_id)


def client_for(app: Flask, user_id: str) -> FlaskClient:
    client = app.test_client()
    assert client.post("/auth/login", data={"user_id": user_id, "password": PASSWORD}).status_code == 302
    return client


@pytest.mark.requirement("URS-SEC-004")
@pytest.mark.usefixtures("people")
def test_an_admin_unlocks_a_locked_account_with_a_reason(app: Flask, services: Services) -> None:
    for _ in range(services.settings.lockout_attempts):
        app.test_client().post("/auth/login", data={"user_id": "olga", "password": "wrong"})
    with services.session_factory() as session:
        assert services.users.get(session, "olga").locked
    admin = client_for(app, "ada")
    assert "locked" in admin.get("/admin/users").get_data(as_text=True)
    refused = admin.post("/admin/users/olga/unlock", data={"reason": ""}, headers={"Accept": "text/html"})
    assert refused.status_code == 422
    assert admin.post("/admin/users/olga/unlock", data={"reason": "called the helpdesk"}).status_code == 302
    client_for(app, "olga")
    with services.session_factory() as session:
        reasons = session.scalars(select(AuditEvent.reason).where(AuditEvent.action.like("user.unlock%")))
        assert "called the helpdesk" in list(reasons)


@pytest.mark.requirement("URS-REC-003")
@pytest.mark.usefixtures("people")
def test_a_recipe_is_signed_authored_then_approved_by_another_person_in_the_ui(app: Flask, services: Services) -> None:
    with unit_of_work(services.session_factory) as session:
        services.recipes.import_text(session, actor="rita", data=EXAMPLE.read_text(encoding="utf-8"), source="x")
    rita, ray = client_for(app, "rita"), client_for(app, "ray")
    page = rita.get("/recipes/PCM-SOL-24@1").get_data(as_text=True)
    assert "Sign as authored and send for review" in page
    sent = rita.post("/recipes/PCM-SOL-24@1/submit", data={"sig_user": "rita", "sig_password": PASSWORD})
    assert sent.status_code == 302
    assert "Sign as approved" in ray.get("/recipes/PCM-SOL-24@1").get_data(as_text=True)
    assert (
        rita.post("/recipes/PCM-SOL-24@1/approve", data={"sig_user": "rita", "sig_password": PASSWORD}).status_code
        == 403
    )
    assert (
        ray.post("/recipes/PCM-SOL-24@1/approve", data={"sig_user": "ray", "sig_password": PASSWORD}).status_code == 302
    )
    listing = ray.get("/recipes/").get_data(as_text=True)
    assert "approved" in listing
    sam = client_for(app, "sam")
    assert "PCM-SOL-24@1" in sam.get("/batches/").get_data(as_text=True)
    made = sam.post("/batches/", data={"recipe": "PCM-SOL-24", "size": "800", "order": "PO-UI-1"})
    assert made.status_code == 302
    batch_page = sam.get(made.headers["Location"]).get_data(as_text=True)
    assert "800 L" in batch_page
    assert "ready" in batch_page
