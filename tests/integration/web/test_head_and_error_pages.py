"""HEAD cannot slip past CSRF, and every error page keeps the layout with a way back.

The issue's attack: a HEAD request with a form body is answered by the view as if it
were the POST (``if request.method == "GET": … else: change``), and flask-wtf checks
only POST, PUT, PATCH and DELETE. Login, password change and accepting the
accountability statement all worked that way.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from tests.support.auth import csrf_token, login

PASSWORD = "Head-Request-2026!"
FORM_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture
def olga(services: Services) -> str:
    with unit_of_work(services.session_factory) as session:
        services.users.create(
            session, actor="system:test", user_id="olga", full_name="Olga Operator", roles=["operator"],
            password=PASSWORD, must_change=False,
        )  # fmt: skip
    return "olga"


def _signed_in(client: FlaskClient) -> bool:
    return client.get("/auth/password").status_code == 200


@pytest.mark.requirement("URS-SEC-007")
def test_a_head_login_with_a_form_body_is_refused_and_logs_nobody_in(client: FlaskClient, olga: str) -> None:
    response = client.open("/auth/login", method="HEAD", data={"user_id": olga, "password": PASSWORD})
    assert response.status_code == 400
    assert not _signed_in(client)
    # Even with a valid token a HEAD only looks: it is answered like a GET.
    token = csrf_token(client)
    response = client.open(
        "/auth/login", method="HEAD", data={"user_id": olga, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 200
    assert not _signed_in(client)


@pytest.mark.requirement("URS-SEC-007")
def test_head_cannot_change_the_password_or_accept_the_statement(
    client: FlaskClient, olga: str, services: Services
) -> None:
    login(client, olga, PASSWORD)
    new = {"current_password": PASSWORD, "new_password": "Changed-By-Head-1", "confirm_password": "Changed-By-Head-1"}
    assert client.open("/auth/password", method="HEAD", data=new).status_code == 400
    assert client.open("/auth/accountability", method="HEAD", data={"accept": "yes"}).status_code == 400
    token = csrf_token(client, "/auth/password")
    assert client.open("/auth/password", method="HEAD", data=new | {"csrf_token": token}).status_code == 200
    form = {"accept": "yes", "csrf_token": token}
    assert client.open("/auth/accountability", method="HEAD", data=form).status_code == 200
    with services.session_factory() as session:
        user = services.users.get(session, olga)
    assert user.accountability_accepted_at is None
    with unit_of_work(services.session_factory) as session:
        services.users.authenticate(session, olga, PASSWORD)  # the old password still works


@pytest.mark.requirement("URS-SEC-007")
def test_every_route_that_takes_a_form_refuses_a_head_without_a_token(
    app: Flask, client: FlaskClient, olga: str
) -> None:
    login(client, olga, PASSWORD)
    checked = 0
    for rule in app.url_map.iter_rules():
        methods = rule.methods or set()
        if not methods & FORM_METHODS or rule.endpoint.startswith(("api", "static")) or "GET" not in methods:
            continue
        url = rule.build(dict.fromkeys(rule.arguments, "no-such-thing"), append_unknown=False)[1]
        response = client.open(url, method="HEAD", data={"anything": "x"})
        assert response.status_code == 400, f"HEAD {url} ({rule.endpoint}) answered {response.status_code}"
        checked += 1
    assert checked >= 3
    assert client.head("/healthz").status_code == 200  # a plain HEAD to a page that only reads is fine


@pytest.mark.requirement("URS-SEC-011")
@pytest.mark.parametrize(
    ("path", "status", "heading"), [("/no/such/page", 404, "Not found"), ("/admin/users", 403, "Not permitted")]
)
def test_error_pages_keep_the_layout_and_a_way_back(
    client: FlaskClient, olga: str, path: str, status: int, heading: str
) -> None:
    login(client, olga, PASSWORD)
    response = client.get(path, headers={"Accept": "text/html"})
    assert response.status_code == status
    page = response.get_data(as_text=True)
    assert f"<h1>{heading}</h1>" in page
    assert 'class="topbar"' in page  # the app's layout, with navigation
    assert "Signed in as" in page
    assert 'href="/"' in page
    assert "Back to the start page" in page
    assert "Werkzeug" not in page


@pytest.mark.requirement("URS-SEC-011")
def test_a_crash_shows_a_styled_500_without_the_traceback(app: Flask) -> None:
    @app.get("/boom-for-test")
    def boom() -> str:
        raise RuntimeError("secret internals: /etc/ebr/key")

    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production
    client = app.test_client()
    page = client.get("/boom-for-test", headers={"Accept": "text/html"})
    assert page.status_code == 500
    text = page.get_data(as_text=True)
    assert "Something went wrong on our side" in text
    assert "Back to the start page" in text
    assert "secret internals" not in text
    api = client.get("/boom-for-test", headers={"Accept": "application/json"})
    assert api.status_code == 500
    assert api.get_json()["error"] == "InternalServerError"
    assert "secret internals" not in api.get_data(as_text=True)


@pytest.mark.requirement("URS-SEC-011")
def test_a_wrong_method_and_an_unknown_api_path_answer_with_the_error_body(client: FlaskClient) -> None:
    missing = client.get("/api/no-such-thing")
    assert (missing.status_code, sorted(missing.get_json())) == (404, ["error", "message"])
    wrong = client.put("/api/session", json={})
    assert wrong.status_code == 405
    assert wrong.get_json()["error"] == "MethodNotAllowed"
    assert "POST" in wrong.headers["Allow"]
