"""API tokens: a machine client of a person, limited to its scopes, expiring, revocable, never signing."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select

from audit.models import AuditEvent
from ebr.bootstrap import Services, build_services
from ebr.cli import main
from ebr.core.clock import UTC, FixedClock
from ebr.core.config import Settings
from ebr.core.db import unit_of_work
from ebr.core.errors import ValidationError
from ebr.integration import tokens
from ebr.integration.models import MachineToken
from tests.integration.authoring.support import PASSWORD, add_people, call, login, sig, token
from tests.unit.recipes.helpers import LIQUID, example_text


@pytest.fixture
def people(services: Services) -> None:
    add_people(services)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def actions(services: Services, prefix: str) -> list[AuditEvent]:
    with services.session_factory() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action.startswith(prefix))))


@pytest.mark.requirement("URS-SEC-020")
def test_a_token_reads_within_its_scope_and_acts_as_its_owner(app: Flask, services: Services, people: None) -> None:
    secret = token(services, "anna", "ci-import", ["recipe.view", "recipe.author"])
    client = app.test_client()
    created = call(
        client, "POST", "/api/recipes/import", {"content": example_text(LIQUID)}, 201, headers=bearer(secret)
    )
    assert created[0]["created_by"] == "anna"
    assert call(client, "GET", "/api/recipes", headers=bearer(secret))[0]["label"] == created[0]["label"]
    with services.session_factory() as session:
        row = session.scalars(select(MachineToken).where(MachineToken.name == "ci-import")).one()
        assert row.last_used_at is not None
        assert secret not in (row.token_sha256, row.scopes)  # only the hash is kept
    assert [e.actor for e in actions(services, "api.token.created")] == ["anna"]


@pytest.mark.requirement("URS-SEC-020")
def test_a_token_outside_its_scope_is_refused_and_the_refusal_audited(
    app: Flask, services: Services, people: None
) -> None:
    secret = token(services, "anna", "reader", ["read"])
    refused = app.test_client().post(
        "/api/recipes/import", json={"content": example_text(LIQUID)}, headers=bearer(secret)
    )
    assert refused.status_code == 403
    assert "scope" in refused.json["message"]
    assert refused.json["error"] == "TokenRefused"
    assert len(actions(services, "api.token.refused")) == 1
    assert call(app.test_client(), "GET", "/api/recipes", headers=bearer(secret)) == []


@pytest.mark.requirement("URS-SEC-020")
def test_a_token_past_its_expiry_or_revoked_is_refused(settings: Settings, people: None) -> None:
    from ebr.app import create_app

    clock = FixedClock(dt.datetime(2026, 12, 1, 8, 0, tzinfo=UTC))
    built = build_services(settings, clock=clock)
    try:
        app = create_app(services=built)
        short = token(built, "aud", "short", ["audit"], days=1)
        kept = token(built, "aud", "kept", ["audit"], days=30)
        assert app.test_client().get("/api/audit/status", headers=bearer(short)).status_code == 200
        clock.advance(days=1, seconds=1)
        expired = app.test_client().get("/api/audit/status", headers=bearer(short))
        assert expired.status_code == 401
        assert "expired" in expired.json["message"]
        assert expired.headers["WWW-Authenticate"] == "Bearer"
        with unit_of_work(built.session_factory) as session:
            tokens.revoke(session, audit=built.audit, clock=clock, actor="aud", name="kept", reason="leaked")
        revoked = app.test_client().get("/api/audit/status", headers=bearer(kept))
        assert revoked.status_code == 401
        assert "revoked" in revoked.json["message"]
        forged = app.test_client().get("/api/audit/status", headers=bearer(kept[:-2] + "xx"))
        assert forged.status_code == 401
        assert len(actions(built, "api.token.refused")) == 2  # the known tokens; the forged one names nobody
        assert len(actions(built, "api.token.revoked")) == 1
    finally:
        built.close()


@pytest.mark.requirement("URS-SEC-020")
def test_a_token_can_never_sign(app: Flask, services: Services, people: None) -> None:
    author = login(app.test_client(), "anna")
    label = call(author, "POST", "/api/recipes/import", {"content": example_text(LIQUID)}, expect=201)[0]["label"]
    secret = token(services, "anna", "everything", ["recipe"])
    refused = app.test_client().post(
        f"/api/recipes/{label}/submit", json={"signature": sig("anna")}, headers=bearer(secret)
    )
    assert refused.status_code == 403
    assert refused.json["error"] == "TokenCannotSign"
    assert call(author, "GET", f"/api/recipes/{label}")["status"] == "draft"
    with pytest.raises(ValidationError, match="never sign"):
        tokens.expand_scopes(["sign.authored"])


@pytest.mark.requirement("URS-SEC-020")
def test_a_token_never_has_more_than_its_owner(app: Flask, services: Services, people: None) -> None:
    with pytest.raises(ValidationError) as refused:
        token(services, "adam", "admin-approves", ["recipe.approve"])
    assert "never has more than its owner" in refused.value.message
    secret = token(services, "paul", "approver-read", ["recipe.view"])
    with unit_of_work(services.session_factory) as session:
        services.users.deactivate(session, actor="adam", user_id="paul", reason="left the company")
    assert app.test_client().get("/api/recipes", headers=bearer(secret)).status_code == 403
    with pytest.raises(ValidationError, match="at most"):
        token(services, "anna", "forever", ["read"], days=5000)


def test_ebr_api_token_creates_lists_and_revokes(settings: Settings, people: None) -> None:
    env = {"EBR_DATABASE_URL": settings.database_url, "EBR_DATA_DIR": str(settings.data_dir)}
    runner = CliRunner()
    made = runner.invoke(
        main, ["api-token", "create", "lims-reader", "--user", "aud", "--password-stdin", "--scope", "audit"],
        env=env, input=PASSWORD + "\n",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert made.output.strip().startswith("ebr_")
    listed = runner.invoke(main, ["api-token", "list"], env=env)
    assert "lims-reader" in listed.output
    assert "audit.export" in listed.output
    assert made.output.strip() not in listed.output
    other = runner.invoke(
        main, ["api-token", "revoke", "lims-reader", "--user", "anna", "--password-stdin", "--reason", "x"],
        env=env, input=PASSWORD + "\n",
    )  # fmt: skip
    assert other.exit_code == 2
    assert "integration.manage" in other.output
    revoked = runner.invoke(
        main, ["api-token", "revoke", "lims-reader", "--user", "adam", "--password-stdin", "--reason", "rotated"],
        env=env, input=PASSWORD + "\n",
    )  # fmt: skip
    assert revoked.exit_code == 0, revoked.output
    bad = runner.invoke(
        main, ["api-token", "create", "x", "--user", "anna", "--password-stdin", "--scope", "sign.authored"],
        env=env, input=PASSWORD + "\n",
    )  # fmt: skip
    assert bad.exit_code == 2
    assert "never sign" in bad.output
    assert json.loads(json.dumps(bad.output))  # one line, no traceback
    assert "Traceback" not in bad.output
