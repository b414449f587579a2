"""/admin/users records the identity check (21 CFR 11.100(b)) as ``ebr user add --identity-checked``
and ``ebr user verify-identity`` do: who checked, when and how, audited; never claimed unasked."""

from __future__ import annotations

import json
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from audit.chain import Entity
from audit.models import AuditEvent
from ebr.app import create_app
from ebr.bootstrap import Services
from signatures.errors import IdentityNotVerified
from tests.integration.signatures.conftest import PASSWORD, MakeUser
from tests.support.auth import csrf_token, login


def _events(svc: Services, action: str) -> list[dict[str, object]]:
    with svc.session_factory() as session:
        rows = session.scalars(select(AuditEvent.canonical).where(AuditEvent.action == action))
        return [json.loads(r) for r in rows]


@pytest.fixture
def web(svc: Services) -> Flask:
    return create_app(services=svc)


@pytest.fixture
def admin(web: Flask, make_user: MakeUser) -> FlaskClient:
    make_user("root", "admin")
    client = web.test_client()
    login(client, "root", PASSWORD)
    return client


def _create(admin: FlaskClient, user_id: str, **extra: str) -> str:
    form = {"user_id": user_id, "full_name": "Olga Operator", "roles": ["operator"]} | extra
    page = admin.post(
        "/admin/users", data=form | {"csrf_token": csrf_token(admin, "/admin/users")}, follow_redirects=True
    )
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    return page.get_data(as_text=True)


@pytest.mark.requirement("URS-SEC-031")
def test_the_create_form_records_who_checked_the_identity_and_how_as_the_cli_does(
    svc: Services, admin: FlaskClient
) -> None:
    page = admin.get("/admin/users").get_data(as_text=True)
    assert 'name="identity_check"' in page
    shown = _create(admin, "olga", identity_check="  badge and passport seen by R. Oot  ")
    assert "not yet verified" not in shown
    with svc.session_factory() as session:
        olga = svc.users.get(session, "olga")
    assert olga.identity_verified_by == "root"
    assert olga.identity_verified_at == svc.clock.now()
    assert olga.identity_check == "badge and passport seen by R. Oot"
    [created] = [e for e in _events(svc, "user.created") if e["entity"] == {"type": "user", "id": "olga"}]
    assert created["actor"] == "root"
    assert created["after"]["identity_check"] == "badge and passport seen by R. Oot"  # type: ignore[index]
    assert "badge and passport seen by R. Oot" in admin.get("/admin/users").get_data(as_text=True)


@pytest.mark.requirement("URS-SEC-031")
def test_a_user_created_without_an_identity_check_cannot_sign_until_the_admin_records_it_on_the_page(
    svc: Services, admin: FlaskClient
) -> None:
    shown = _create(admin, "olga")
    assert "The identity of olga is not yet verified" in shown
    with svc.session_factory() as session:
        olga = svc.users.get(session, "olga")
        assert olga.identity_verified_at is None
        assert olga.identity_check is None
    [created] = [e for e in _events(svc, "user.created") if e["entity"] == {"type": "user", "id": "olga"}]
    assert created["after"]["identity_check"] is None  # type: ignore[index]
    # She changes the one-time password shown to the admin and accepts the statement: ready but for the check.
    found = re.search(r"Temporary password \(shown once\): ([A-Za-z0-9-]+)", shown)
    assert found
    with svc.session_factory.begin() as session:
        svc.users.change_password(session, user_id="olga", old_password=found.group(1), new_password=PASSWORD)
        svc.users.accept_accountability(session, user_id="olga")
    with pytest.raises(IdentityNotVerified), svc.session_factory.begin() as session:
        svc.signing.sign(
            session, subject=Entity("batch_step", "B-1/1"), content={"v": 1}, meaning="performed", reason=None,
            user_id="olga", password=PASSWORD,
        )  # fmt: skip
    token = csrf_token(admin, "/admin/users")
    empty = admin.post("/admin/users/olga/identity", data={"csrf_token": token, "how": "  "})
    assert empty.status_code == 422
    assert _events(svc, "user.identity_verified") == []
    done = admin.post("/admin/users/olga/identity", data={"csrf_token": token, "how": "passport checked in person"})
    assert done.status_code == 302
    [event] = _events(svc, "user.identity_verified")
    assert (event["actor"], event["reason"]) == ("root", "passport checked in person")
    assert event["entity"] == {"type": "user", "id": "olga"}
    with svc.session_factory.begin() as session:
        signed = svc.signing.sign(
            session, subject=Entity("batch_step", "B-1/1"), content={"v": 1}, meaning="performed", reason=None,
            user_id="olga", password=PASSWORD,
        )  # fmt: skip
    assert signed.signer == "olga"


@pytest.mark.requirement("URS-SEC-031")
def test_only_a_user_manager_records_an_identity_check(svc: Services, web: Flask, make_user: MakeUser) -> None:
    make_user("sam", "supervisor")
    with svc.session_factory.begin() as session:
        svc.users.create(
            session, actor="root", user_id="olga", full_name="Olga", roles=["operator"], identity_check=None
        )
    sam = web.test_client()
    login(sam, "sam", PASSWORD)
    refused = sam.post(
        "/admin/users/olga/identity", data={"csrf_token": csrf_token(sam, "/auth/password"), "how": "I know her"}
    )
    assert refused.status_code == 403
    with svc.session_factory() as session:
        assert svc.users.get(session, "olga").identity_verified_at is None
        assert session.scalar(select(func.count()).where(AuditEvent.action == "user.identity_verified")) == 0
