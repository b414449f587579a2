"""After accepting the accountability statement the user is back on the page that sent them,
and no ``next`` can send anyone to another site (the open-redirect attack)."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Blueprint, Flask, render_template_string, request
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.chain import Entity
from ebr.accounts.web_auth import safe_next
from ebr.app import create_app
from ebr.bootstrap import Services
from ebr.web import access as auth
from tests.integration.signatures.conftest import PASSWORD, MakeUser
from tests.support.auth import csrf_token, login

ATTACKS = [
    "https://evil.example/",
    "http://evil.example",
    "//evil.example/x",
    "///evil.example/x",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "javascript:alert(1)",
    "http:/evil.example",
    "evil.example",
    "https:evil.example",
    " //evil.example",
]


def statement_next(location: str) -> str:
    """The ``next`` of a link to the statement page."""
    parts = urlsplit(location)
    assert parts.path == "/auth/accountability", location
    return parse_qs(parts.query)["next"][0]


def browser_host(location: str) -> str:
    """The host a browser goes to for ``location`` on https://plant.example/ (WHATWG URL rules:
    tabs and newlines dropped, leading spaces trimmed, backslashes read as slashes)."""
    cleaned = location.replace("\t", "").replace("\n", "").replace("\r", "").lstrip(" \x00").replace("\\", "/")
    if cleaned.startswith("//"):
        return urlsplit("https:" + cleaned).hostname or ""
    parts = urlsplit(cleaned)
    if parts.scheme:
        # "https:evil.example" and "http:/evil.example" name another host in a browser.
        return "other" if parts.scheme in ("http", "https") or parts.netloc else "scheme:" + parts.scheme
    return "plant.example"


@pytest.fixture
def web(svc: Services) -> Flask:
    app = create_app(services=svc)
    probe = Blueprint("probe", __name__)

    @probe.get("/probe/lot/<lot>")
    @auth.login_required
    def lot(lot: str) -> str:
        return render_template_string('<form>{% include "review/_sigfields.html" %}</form>', prefix="p")

    @probe.post("/probe/lot/<lot>/release")
    @auth.login_required
    def release(lot: str) -> str:
        user = auth.current_user()
        assert user is not None
        with svc.session_factory.begin() as session:
            svc.signing.sign(
                session, subject=Entity("lot", lot), content={"lot": lot}, meaning="performed", reason=None,
                user_id=user.user_id, password=request.form["sig_password"],
            )  # fmt: skip
        return "signed"

    app.register_blueprint(probe)
    return app


@pytest.fixture
def browser(web: Flask, make_user: MakeUser) -> FlaskClient:
    make_user("olga", "operator", accept=False)
    client = web.test_client()
    login(client, "olga", PASSWORD)
    return client


@pytest.mark.requirement("URS-SEC-030")
def test_a_signing_form_carries_its_page_and_the_user_is_sent_back_there_without_a_referer(
    svc: Services, browser: FlaskClient
) -> None:
    page = browser.get("/probe/lot/L-7?tab=release").get_data(as_text=True)
    assert '<input type="hidden" name="next" value="/probe/lot/L-7?tab=release">' in page
    token = csrf_token(browser, "/auth/password")
    form = {"csrf_token": token, "sig_password": PASSWORD, "next": "/probe/lot/L-7?tab=release"}
    sent = browser.post("/probe/lot/L-7/release", data=form)  # no Referer, as browsers send none
    assert sent.status_code == 302
    assert statement_next(sent.headers["Location"]) == "/probe/lot/L-7?tab=release"
    statement = browser.get(sent.headers["Location"]).get_data(as_text=True)
    assert 'name="next" value="/probe/lot/L-7?tab=release"' in statement
    done = browser.post(
        "/auth/accountability", data={"csrf_token": token, "accept": "yes", "next": "/probe/lot/L-7?tab=release"}
    )
    assert done.headers["Location"] == "/probe/lot/L-7?tab=release"
    assert browser.post("/probe/lot/L-7/release", data=form).get_data(as_text=True) == "signed"


@pytest.mark.requirement("URS-SEC-030")
def test_an_htmx_signature_returns_to_the_page_htmx_names(browser: FlaskClient) -> None:
    token = csrf_token(browser, "/auth/password")
    fragment = browser.get(
        "/probe/lot/L-7", headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/probe/batch/B-1?step=2"}
    )
    assert 'name="next" value="/probe/batch/B-1?step=2"' in fragment.get_data(as_text=True)
    headers = {"HX-Request": "true", "HX-Current-URL": "http://localhost/probe/batch/B-1?step=2"}
    sent = browser.post("/probe/lot/L-7/release", data={"csrf_token": token, "sig_password": PASSWORD}, headers=headers)
    assert sent.status_code == 403
    assert statement_next(sent.headers["HX-Redirect"]) == "/probe/batch/B-1?step=2"


@pytest.mark.requirement("URS-SEC-030")
@pytest.mark.parametrize("attack", ATTACKS)
def test_a_next_to_another_site_is_never_followed(browser: FlaskClient, attack: str) -> None:
    token = csrf_token(browser, "/auth/password")
    sent = browser.post("/probe/lot/L-7/release", data={"csrf_token": token, "sig_password": PASSWORD, "next": attack})
    assert statement_next(sent.headers["Location"]) == "/"
    shown = browser.get("/auth/accountability", query_string={"next": attack}).get_data(as_text=True)
    assert 'name="next" value="/"' in shown
    if "\n" not in attack:  # a header cannot carry a newline
        hx = {"HX-Request": "true", "HX-Current-URL": attack}
        fragment = browser.get("/probe/lot/L-7", headers=hx).get_data(as_text=True)
        carried = re.search(r'name="next" value="([^"]*)"', fragment)
        assert carried is not None
        assert browser_host(html.unescape(carried.group(1))) == "plant.example"
    done = browser.post("/auth/accountability", data={"csrf_token": token, "accept": "yes", "next": attack})
    assert done.headers["Location"] == "/"
    browser.post("/auth/logout", data={"csrf_token": token})
    page = csrf_token(browser)
    back = browser.post(
        "/auth/login", data={"user_id": "olga", "password": PASSWORD, "csrf_token": page, "next": attack}
    )
    assert back.headers["Location"] == "/"


@pytest.mark.requirement("URS-SEC-030")
@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet="/\\:.@\t\n %evilx").map(lambda s: s[:20])))
def test_whatever_next_is_sent_the_redirect_stays_on_this_site(target: str) -> None:
    assert browser_host(safe_next(target)) == "plant.example"


@pytest.mark.parametrize("attack", ATTACKS)
def test_the_attacks_would_leave_the_site_if_followed(attack: str) -> None:
    # The attack list is real: each one, followed as given, leaves the site (or is no path).
    assert browser_host(attack) != "plant.example" or not attack.startswith("/")
