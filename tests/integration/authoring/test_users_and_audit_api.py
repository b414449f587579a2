"""``/api/users`` (the administrator's operations, same rules as the CLI) and ``/api/audit``."""

from __future__ import annotations

import io
import zipfile

import pytest
from flask import Flask

from ebr.bootstrap import Services
from ebr.trail.services import ensure_system_key
from tests.integration.authoring.support import add_people, call, login


@pytest.fixture
def people(services: Services) -> None:
    ensure_system_key(services)
    add_people(services)


@pytest.mark.requirement("URS-API-004")
def test_an_administrator_manages_users_through_the_api(app: Flask, services: Services, people: None) -> None:
    admin = login(app.test_client(), "adam")
    made = call(admin, "POST", "/api/users", {"user_id": "olga", "full_name": "Olga Operator", "roles": []}, 201)
    assert made["temporary_password"]
    assert made["must_change_password"] is True
    assert "olga" in [u["user_id"] for u in call(admin, "GET", "/api/users")]
    changed = call(admin, "PUT", "/api/users/olga/roles", {"roles": ["operator"], "reason": "trained"})
    assert changed["roles"] == ["operator"] or changed["pending_roles"] is True
    gone = call(admin, "POST", "/api/users/olga/deactivate", {"reason": "left"})
    assert gone["active"] is False
    assert call(admin, "GET", "/api/users/olga")["active"] is False
    again = admin.post("/api/users", json={"user_id": "olga", "full_name": "Another Olga"})
    assert again.status_code == 409  # ids are never reused


@pytest.mark.requirement("URS-API-004")
def test_the_users_api_keeps_segregation_of_duties(app: Flask, services: Services, people: None) -> None:
    admin = login(app.test_client(), "adam")
    own = admin.put("/api/users/adam/roles", json={"roles": ["admin", "auditor"], "reason": "me"})
    assert own.status_code == 422
    assert "their own roles" in own.json["message"]
    clash = admin.put("/api/users/quinn/roles", json={"roles": ["qa", "admin"], "reason": "both"})
    assert clash.status_code == 422
    assert "segregation of duties" in clash.json["message"]
    assert admin.put("/api/users/quinn/roles", json={"roles": ["qa"]}).status_code == 422  # no reason
    qa = login(app.test_client(), "quinn")
    assert qa.get("/api/users").status_code == 403
    assert qa.post("/api/users", json={"user_id": "evil", "full_name": "Evil", "roles": ["admin"]}).status_code == 403


@pytest.mark.requirement("URS-API-005")
def test_an_auditor_searches_verifies_and_exports_the_trail(app: Flask, services: Services, people: None) -> None:
    auditor = login(app.test_client(), "aud")
    page = call(auditor, "GET", "/api/audit/events?action=user.created&page_size=2")
    assert page["total"] == 6
    assert len(page["events"]) == 2
    assert page["events"][0]["seq"] > page["events"][1]["seq"]
    assert page["events"][0]["after"]["full_name"]
    second = call(auditor, "GET", "/api/audit/events?action=user.created&page_size=2&page=2")
    assert {e["seq"] for e in second["events"]}.isdisjoint({e["seq"] for e in page["events"]})
    one = call(auditor, "GET", "/api/audit/events?entity_type=user&entity_id=quinn")
    assert {e["entity_id"] for e in one["events"]} == {"quinn"}
    assert auditor.get("/api/audit/events?since=2030-01-01T00:00:00Z&until=2020-01-01T00:00:00Z").status_code == 422
    assert auditor.get("/api/audit/events?since=2030-01-01").status_code == 422  # no time zone
    verified = call(auditor, "POST", "/api/audit/verify")
    assert verified["verification"]["ok"] is True
    assert verified["head_seq"] >= page["total"]
    bundle = auditor.get("/api/audit/export?entity_type=user&entity_id=quinn")
    assert bundle.status_code == 200
    assert bundle.mimetype == "application/zip"
    assert zipfile.ZipFile(io.BytesIO(bundle.data)).namelist()
    assert auditor.get("/api/audit/export?entity_type=user").status_code == 422
    assert auditor.get("/api/audit/export?entity_type=user&entity_id=nobody").status_code == 404


@pytest.mark.requirement("URS-API-005")
def test_the_audit_api_follows_the_permission_table(app: Flask, people: None) -> None:
    author = login(app.test_client(), "anna")
    assert author.get("/api/audit/events").status_code == 403
    admin = login(app.test_client(), "adam")
    assert admin.get("/api/audit/status").status_code == 200  # admin reads the trail
    assert admin.post("/api/audit/verify").status_code == 403
    assert admin.get("/api/audit/export").status_code == 403
