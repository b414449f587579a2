"""Login, logout, idle timeout, password change, CSRF and cookies in the web app."""

from __future__ import annotations

import pytest
from flask import Blueprint, Flask, request
from flask.testing import FlaskClient

from audit.chain import Entity
from ebr.app import create_app
from ebr.bootstrap import Services
from ebr.core.clock import FixedClock
from ebr.web import access as auth
from tests.integration.signatures.conftest import PASSWORD, MakeUser
from tests.support.auth import csrf_token, login


@pytest.fixture
def web(svc: Services) -> Flask:
    app = create_app(services=svc)
    probe = Blueprint("probe", __name__)

    @probe.get("/probe/batches")
    @auth.permission_required("batch.execute")
    def batches() -> str:
        user = auth.current_user()
        assert user is not None
        return f"hello {user.user_id}"

    @probe.post("/probe/sign")
    @auth.login_required
    def sign() -> str:
        user = auth.current_user()
        assert user is not None
        with svc.session_factory.begin() as session:
            svc.signing.sign(
                session,
                subject=Entity("batch_step", "B-1/1"),
                content={"v": "1"},
                meaning="performed",
                reason=None,
                user_id=request.form.get("signer", user.user_id),
                password=request.form["password"],
            )
        return "signed"

    app.register_blueprint(probe)
    return app


@pytest.fixture
def browser(web: Flask) -> FlaskClient:
    return web.test_client()


@pytest.mark.requirement("URS-SEC-005")
def test_a_logged_in_user_reaches_a_page_and_an_anonymous_one_is_sent_to_login(
    browser: FlaskClient, make_user: MakeUser
) -> None:
    make_user("olga", "operator")
    assert browser.get("/probe/batches").status_code == 302
    response = login(browser, "olga", PASSWORD)
    assert response.status_code == 302
    assert browser.get("/probe/batches").get_data(as_text=True) == "hello olga"


@pytest.mark.requirement("URS-SEC-002")
def test_a_role_without_the_permission_gets_403(browser: FlaskClient, make_user: MakeUser) -> None:
    make_user("ada", "auditor")
    login(browser, "ada", PASSWORD)
    response = browser.get("/probe/batches", headers={"Accept": "application/json"})
    assert response.status_code == 403
    assert "batch.execute" in response.get_json()["message"]


@pytest.mark.requirement("URS-SEC-004")
def test_a_wrong_password_at_login_is_refused_and_counts(
    svc: Services, browser: FlaskClient, make_user: MakeUser
) -> None:
    make_user("olga", "operator")
    response = login(browser, "olga", "not-it")
    assert response.status_code == 401
    assert "user id or password is not accepted" in response.get_data(as_text=True)
    with svc.session_factory() as session:
        assert svc.users.get(session, "olga").failed_attempts == 1


@pytest.mark.requirement("URS-SEC-005")
def test_the_session_id_changes_at_login_and_logout_really_ends_it(browser: FlaskClient, make_user: MakeUser) -> None:
    make_user("olga", "operator")
    login(browser, "olga", PASSWORD)
    first = browser.get_cookie("session")
    assert first is not None
    # Log in again from the same browser: a new session token.
    login(browser, "olga", PASSWORD)
    second = browser.get_cookie("session")
    assert second is not None
    assert second.value != first.value
    # Replaying the old cookie after logout must not get in.
    stolen = second.value
    browser.post("/auth/logout", data={"csrf_token": csrf_token(browser, "/auth/password")})
    browser.set_cookie("session", stolen)
    assert browser.get("/probe/batches").status_code == 302


@pytest.mark.requirement("URS-SEC-005")
def test_an_idle_session_ends_and_needs_a_new_login(
    svc: Services, browser: FlaskClient, make_user: MakeUser, clock: FixedClock
) -> None:
    make_user("olga", "operator")
    login(browser, "olga", PASSWORD)
    clock.advance(minutes=svc.settings.session_idle_minutes - 1)
    assert browser.get("/probe/batches").status_code == 200  # activity resets the idle timer
    clock.advance(minutes=svc.settings.session_idle_minutes + 1)
    response = browser.get("/probe/batches", headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert "without activity" in response.get_json()["message"]


@pytest.mark.requirement("URS-SEC-003")
def test_an_admin_set_password_must_be_changed_before_anything_else(
    svc: Services, browser: FlaskClient, make_user: MakeUser
) -> None:
    with svc.session_factory.begin() as session:
        svc.users.create(session, actor="root", user_id="nina", full_name="Nina New", roles=["operator"])
        temporary = svc.users.reset_password(session, actor="root", user_id="nina")
    response = login(browser, "nina", temporary)
    assert response.headers["Location"].endswith("/auth/password")
    assert browser.get("/probe/batches").headers["Location"].endswith("/auth/password")
    token = csrf_token(browser, "/auth/password")
    form = {"csrf_token": token, "current_password": temporary, "confirm_password": "Chose-This-Pass-9"}
    weak = browser.post("/auth/password", data={**form, "new_password": "short", "confirm_password": "short"})
    assert weak.status_code == 422
    assert "at least 12" in weak.get_data(as_text=True)
    done = browser.post("/auth/password", data={**form, "new_password": "Chose-This-Pass-9"})
    assert done.status_code == 302
    assert browser.get("/probe/batches").status_code == 200


@pytest.mark.requirement("URS-SEC-007")
def test_a_form_without_its_csrf_token_is_refused(browser: FlaskClient, make_user: MakeUser) -> None:
    make_user("olga", "operator")
    response = browser.post("/auth/login", data={"user_id": "olga", "password": PASSWORD})
    assert response.status_code == 400
    assert browser.get("/probe/batches").status_code == 302


@pytest.mark.requirement("URS-SEC-007")
def test_the_session_cookie_is_httponly_samesite_and_secure_in_production(settings: object) -> None:
    from ebr.core.config import Settings

    assert isinstance(settings, Settings)
    app = create_app(services=None, config=settings.with_overrides(secure_cookies=True))
    try:
        assert app.config["SESSION_COOKIE_HTTPONLY"] is True
        assert app.config["SESSION_COOKIE_SAMESITE"] == "Strict"
        assert app.config["SESSION_COOKIE_SECURE"] is True
        assert "csrf" in app.extensions
    finally:
        app.extensions["ebr"].close()


@pytest.mark.requirement("URS-SIG-006")
def test_the_accountability_statement_is_shown_and_its_acceptance_recorded(
    svc: Services, browser: FlaskClient, make_user: MakeUser
) -> None:
    make_user("olga", "operator", accept=False)
    login(browser, "olga", PASSWORD)
    page = browser.get("/auth/accountability?next=/probe/batches")
    assert "legally binding equivalent" in page.get_data(as_text=True)
    token = csrf_token(browser, "/auth/accountability")
    refused = browser.post("/auth/accountability", data={"csrf_token": token})
    assert refused.status_code == 422
    done = browser.post("/auth/accountability", data={"csrf_token": token, "accept": "yes", "next": "/probe/batches"})
    assert done.headers["Location"] == "/probe/batches"
    with svc.session_factory() as session:
        assert svc.users.get(session, "olga").accountability_accepted_at is not None


@pytest.mark.requirement("URS-SIG-006")
def test_a_first_signature_sends_the_user_to_the_statement_and_back(browser: FlaskClient, make_user: MakeUser) -> None:
    make_user("olga", "operator", accept=False)
    login(browser, "olga", PASSWORD)
    token = csrf_token(browser, "/auth/password")
    form = {"csrf_token": token, "password": PASSWORD}
    page = browser.post("/probe/sign", data=form | {"next": "/probe/batches"})  # the signing form's page
    assert page.status_code == 302
    assert page.headers["Location"] == "/auth/accountability?next=/probe/batches"
    api = browser.post("/probe/sign", data=form, headers={"Accept": "application/json"})
    assert api.status_code == 403
    assert api.get_json()["accountability_url"].startswith("/auth/accountability")
    browser.post("/auth/accountability", data={"csrf_token": token, "accept": "yes"})
    assert browser.post("/probe/sign", data=form).get_data(as_text=True) == "signed"


@pytest.mark.requirement("URS-SIG-006")
def test_a_co_signer_without_the_statement_is_named_and_the_signed_in_user_is_not_sent_to_their_own(
    browser: FlaskClient, make_user: MakeUser
) -> None:
    make_user("sam", "supervisor")
    make_user("olga", "operator", accept=False)
    login(browser, "sam", PASSWORD)
    token = csrf_token(browser, "/auth/password")
    form = {"csrf_token": token, "password": PASSWORD, "signer": "olga"}
    page = browser.post("/probe/sign", data=form, headers={"Referer": "http://localhost/probe/batches"})
    assert page.status_code == 403
    assert "'olga' has not yet accepted" in page.get_data(as_text=True)
    api = browser.post("/probe/sign", data=form, headers={"Accept": "application/json"})
    assert api.status_code == 403
    assert api.get_json()["error"] == "AccountabilityNotAccepted"
    assert "accountability_url" not in api.get_json()


@pytest.mark.requirement("URS-SEC-001")
def test_deactivating_a_user_ends_their_open_sessions(svc: Services, browser: FlaskClient, make_user: MakeUser) -> None:
    make_user("olga", "operator")
    login(browser, "olga", PASSWORD)
    assert browser.get("/probe/batches").status_code == 200
    with svc.session_factory.begin() as session:
        svc.users.deactivate(session, actor="system:test", user_id="olga", reason="left the company")
    assert browser.get("/probe/batches").status_code == 302
    again = login(browser, "olga", PASSWORD)
    assert again.status_code == 401
    assert "deactivated" in again.get_data(as_text=True)
