"""The attacker's view of login: nothing tells who exists, and guessing is throttled.

Written as the issue's attacker worked: compare what an unknown id and a known id
(wrong password, then locked) get back — status, body and median time over 50
attempts each, on the web form and on the API — and hammer the login from one
client and against one id, through two web "workers" that share only the database.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ebr.app import create_app
from ebr.bootstrap import Services, build_services
from ebr.core.clock import FixedClock
from ebr.core.config import Settings
from signatures import errors
from signatures.throttle import from_client
from tests.integration.signatures.conftest import PASSWORD, MakeUser
from tests.support.auth import csrf_token

ATTEMPTS = 50
# What changes every second whoever logs in: the plant clock and the time-stamped CSRF token.
VOLATILE = re.compile(r'(data-plant-clock[^>]*>)[^<]*<|"X-CSRFToken": "[^"]*"|name="csrf_token" value="[^"]*"')


@pytest.fixture
def open_settings(settings: Settings) -> Settings:
    """Throttling off: the enumeration test makes 100 failed attempts from one client."""
    return settings.with_overrides(login_limit_per_client="off", login_limit_per_account="off")


@pytest.fixture
def open_svc(open_settings: Settings, clock: FixedClock) -> Iterator[Services]:
    built = build_services(open_settings, clock=clock)
    yield built
    built.close()


def _web_login(browser: FlaskClient, token: str) -> Callable[[str, str], tuple[int, str]]:
    def attempt(user_id: str, password: str) -> tuple[int, str]:
        data = {"user_id": user_id, "password": password, "csrf_token": token}
        response = browser.post("/auth/login", data=data)
        return response.status_code, VOLATILE.sub("…", response.get_data(as_text=True))

    return attempt


def _api_login(client: FlaskClient) -> Callable[[str, str], tuple[int, str]]:
    def attempt(user_id: str, password: str) -> tuple[int, str]:
        response = client.post("/api/session", json={"user_id": user_id, "password": password})
        return response.status_code, response.get_data(as_text=True)

    return attempt


def _compare(attempt: Callable[[str, str], tuple[int, str]]) -> None:
    """Paired unknown-id and known-id attempts; same answers, median time ratio within ±20 %.

    Each pair runs back to back (the one that goes first alternates), and the test compares
    the median of the pairs' time ratios: load from other processes on a shared machine
    shifts both attempts of a pair alike, so it does not pass for a difference of the code.
    """
    attempt("olga", "warm-up-Guess-0")  # first-request costs (templates, hash set-up) out of the sample
    attempt("nobody-here", "warm-up-Guess-0")
    ratios: list[float] = []
    answers: dict[str, set[tuple[int, str]]] = {"known": set(), "unknown": set()}
    for n in range(ATTEMPTS):
        pair = [("unknown", f"ghost{n % 5}"), ("known", "olga")]
        took: dict[str, float] = {}
        for kind, user_id in pair if n % 2 else reversed(pair):
            start = time.perf_counter()
            answers[kind].add(attempt(user_id, f"guess-Guess-{n}"))
            took[kind] = time.perf_counter() - start
        ratios.append(took["unknown"] / took["known"])
    assert answers["known"] == answers["unknown"]
    assert len(answers["known"]) == 1, "every refusal must read the same"
    ratio = statistics.median(ratios)
    assert 1 / 1.2 <= ratio <= 1.2, f"an unknown id takes {ratio:.2f}× the time of a known one (median of pairs)"


@pytest.mark.requirement("URS-SEC-010")
def test_an_unknown_id_and_a_known_one_get_the_same_status_body_and_time_on_the_web(open_svc: Services) -> None:
    with open_svc.session_factory.begin() as session:
        open_svc.users.create(
            session, actor="root", user_id="olga", full_name="Olga", roles=["operator"], password=PASSWORD,
            must_change=False,
        )  # fmt: skip
    browser = create_app(services=open_svc).test_client()
    _compare(_web_login(browser, csrf_token(browser)))
    with open_svc.session_factory() as session:
        assert open_svc.users.get(session, "olga").locked  # the lockout still works (and tells no one)


@pytest.mark.requirement("URS-SEC-010")
def test_an_unknown_id_and_a_known_one_get_the_same_status_body_and_time_on_the_api(open_svc: Services) -> None:
    with open_svc.session_factory.begin() as session:
        open_svc.users.create(
            session, actor="root", user_id="olga", full_name="Olga", roles=["operator"], password=PASSWORD,
            must_change=False,
        )  # fmt: skip
    client = create_app(services=open_svc).test_client()
    _compare(_api_login(client))
    body = client.post("/api/session", json={"user_id": "olga", "password": "x"}).get_json()
    assert body == {"error": "Unauthorized", "message": errors.CredentialsRefused.MESSAGE}


@pytest.mark.requirement("URS-SEC-010")
def test_a_deactivated_account_is_told_only_to_whoever_gives_its_right_password(
    svc: Services, make_user: MakeUser
) -> None:
    make_user("olga", "operator")
    with svc.session_factory.begin() as session:
        svc.users.deactivate(session, actor="root", user_id="olga", reason="left")
    browser = create_app(services=svc).test_client()
    attempt = _web_login(browser, csrf_token(browser))
    assert attempt("olga", "guess-Guess-1") == attempt("nobody", "guess-Guess-1")
    status, page = attempt("olga", PASSWORD)
    assert status == 401
    assert "deactivated" in page


# -- throttling ------------------------------------------------------------------------


def _limited(settings: Settings, clock: FixedClock, client: str, account: str) -> Services:
    return build_services(
        settings.with_overrides(login_limit_per_client=client, login_limit_per_account=account), clock=clock
    )


def _post(app: Flask, address: str, user_id: str, password: str) -> tuple[int, dict[str, object], str | None]:
    client = app.test_client()
    response = client.post(
        "/api/session", json={"user_id": user_id, "password": password}, environ_base={"REMOTE_ADDR": address}
    )
    return response.status_code, response.get_json(), response.headers.get("Retry-After")


@pytest.mark.requirement("URS-SEC-010")
def test_failures_from_one_client_are_throttled_in_every_worker_until_the_window_ends(
    settings: Settings, clock: FixedClock, make_user: MakeUser
) -> None:
    make_user("olga", "operator")
    # Two "gunicorn workers": separate apps and engines that share only the database.
    one, two = _limited(settings, clock, "3/600", "off"), _limited(settings, clock, "3/600", "off")
    try:
        first, second = create_app(services=one), create_app(services=two)
        assert [_post(first, "10.0.0.7", f"ghost{n}", "guess-Guess-1")[0] for n in range(2)] == [401, 401]
        assert _post(second, "10.0.0.7", "olga", "guess-Guess-1")[0] == 401
        status, body, retry = _post(first, "10.0.0.7", "olga", PASSWORD)  # even the right password waits
        assert (status, retry) == (429, "600")
        assert body["error"] == "TooManyAttempts"
        assert body["retry_after"] == 600
        assert "wait 600 s" in str(body["message"])
        assert _post(second, "10.0.0.8", "olga", PASSWORD)[0] == 200  # another client is not affected
        clock.advance(seconds=599)
        assert _post(second, "10.0.0.7", "olga", PASSWORD)[2] == "1"
        clock.advance(seconds=1)
        assert _post(first, "10.0.0.7", "olga", PASSWORD)[0] == 200
    finally:
        one.close()
        two.close()


@pytest.mark.requirement("URS-SEC-010")
def test_failures_for_one_id_are_throttled_from_any_client_known_or_not(
    settings: Settings, clock: FixedClock, make_user: MakeUser
) -> None:
    make_user("olga", "operator")
    svc = _limited(settings, clock, "off", "3/300")
    try:
        app = create_app(services=svc)
        for user_id in ("olga", "ghost"):
            assert [_post(app, f"10.1.0.{n}", user_id, "guess-Guess-1")[0] for n in range(3)] == [401] * 3
            status, body, retry = _post(app, "10.1.0.99", user_id, "guess-Guess-1")
            assert (status, retry, body["error"]) == (429, "300", "TooManyAttempts")
    finally:
        svc.close()


@pytest.mark.requirement("URS-SEC-010")
def test_successful_logins_never_count_so_a_shift_behind_one_address_is_not_throttled(
    settings: Settings, clock: FixedClock, make_user: MakeUser
) -> None:
    for n in range(6):
        make_user(f"op{n}", "operator")
    svc = _limited(settings, clock, "3/600", "3/600")
    try:
        app = create_app(services=svc)
        assert {_post(app, "10.2.0.1", f"op{n % 6}", PASSWORD)[0] for n in range(12)} == {200}
    finally:
        svc.close()


@pytest.mark.requirement("URS-SEC-010")
def test_failed_signatures_are_throttled_like_logins(
    settings: Settings, clock: FixedClock, make_user: MakeUser
) -> None:
    from audit.chain import Entity

    make_user("olga", "operator")
    svc = _limited(settings, clock, "2/60", "off")
    try:

        def sign(password: str) -> None:
            with from_client("10.3.0.1"), svc.session_factory.begin() as session:
                svc.signing.sign(
                    session,
                    subject=Entity("batch_step", "B-1/1"),
                    content={"v": "1"},
                    meaning="performed",
                    reason=None,
                    user_id="olga",
                    password=password,
                )

        for _ in range(2):
            with pytest.raises(errors.CredentialsRefused):
                sign("guess-Guess-1")
        with pytest.raises(errors.TooManyAttempts) as caught:
            sign(PASSWORD)
        assert caught.value.retry_after == 60
    finally:
        svc.close()


@pytest.mark.requirement("URS-SEC-010")
def test_the_login_page_answers_429_with_retry_after(settings: Settings, clock: FixedClock) -> None:
    svc = _limited(settings, clock, "1/120", "off")
    try:
        browser = create_app(services=svc).test_client()
        attempt = _web_login(browser, csrf_token(browser))
        assert attempt("ghost", "guess-Guess-1")[0] == 401
        response = browser.post(
            "/auth/login", data={"user_id": "ghost", "password": "x", "csrf_token": csrf_token(browser)}
        )
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "120"
        assert "too many failed attempts" in response.get_data(as_text=True)
    finally:
        svc.close()
