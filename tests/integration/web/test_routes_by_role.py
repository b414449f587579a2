"""Every route × every role: the server allows exactly what the permission table allows.

The expected answer is derived from ``signatures.permissions.PERMISSIONS`` and the
action each UI view declares (``ebr.web.access.requires``), so a view that forgets
its guard, or a table change that a view does not follow, fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.web.access import ACTION_ATTR, PUBLIC
from signatures.permissions import ALL_ACTIONS, Role, allowed

PASSWORD = "Route-Walker-2026!"

# Endpoints of other areas, not declared through ebr.web.access: how each must answer a stranger.
OPEN_TO_ALL = {
    "static",
    "ui.static",
    "health.healthz",
    "auth.login",
    "ui.home",
    "api-docs.openapi_json",  # the API's description is documentation, not data
    "api_session.login",
    "metrics.metrics",
}
LOGIN_ONLY = {"auth.logout", "auth.password", "auth.accountability"}


@dataclass(frozen=True)
class Route:
    endpoint: str
    method: str
    url: str
    action: str | None


def _url(rule: Rule) -> str:
    # Arguments get values that name nothing: authorization must be decided before lookup.
    return rule.build(dict.fromkeys(rule.arguments, "no-such-thing"), append_unknown=False)[1]


def routes(app: Flask) -> list[Route]:
    found = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        action = getattr(view, ACTION_ATTR, None)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append(Route(rule.endpoint, method, _url(rule), action))
    return found


@pytest.fixture
def walker_app(app: Flask, services: Services) -> Flask:
    # CSRF is proven elsewhere (tests/integration/signatures); here only authorization is walked.
    app.config["WTF_CSRF_ENABLED"] = False
    with unit_of_work(services.session_factory) as session:
        for role in Role:
            services.users.create(
                session,
                actor="system:test",
                user_id=f"walker-{role.value.replace('_', '-')}",
                full_name=f"Walker {role.value}",
                roles=[role],
                password=PASSWORD,
                must_change=False,
            )
    return app


def _client_as(app: Flask, role: Role) -> FlaskClient:
    client = app.test_client()
    response = client.post(
        "/auth/login", data={"user_id": f"walker-{role.value.replace('_', '-')}", "password": PASSWORD}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return client


def _call(client: FlaskClient, route: Route) -> Iterator[tuple[int, str]]:
    response = client.open(route.url, method=route.method, data={}, headers={"Accept": "text/html"})
    try:
        yield response.status_code, response.headers.get("Location", "")
    finally:
        response.close()  # a live stream is never read: close it


def answer(client: FlaskClient, route: Route) -> tuple[int, str]:
    return next(iter(_call(client, route)))


def test_every_route_declares_who_may_use_it(walker_app: Flask) -> None:
    undeclared = [
        f"{r.method} {r.url} ({r.endpoint})"
        for r in routes(walker_app)
        if r.action is None and r.endpoint not in OPEN_TO_ALL | LOGIN_ONLY and not r.endpoint.startswith("api")
    ]
    assert undeclared == [], "routes without a declared permission: " + ", ".join(undeclared)


@pytest.mark.requirement("URS-SEC-002")
def test_every_declared_action_is_in_the_permission_table(walker_app: Flask) -> None:
    # A misspelt action would refuse every role, and the walk below could not tell.
    declared = {r.action for r in routes(walker_app) if r.action not in (None, PUBLIC)}
    assert declared - ALL_ACTIONS == set()
    actions = {(r.endpoint, r.method): r.action for r in routes(walker_app)}
    assert actions[("corrections.correct", "POST")] == "entry.correct"
    assert actions[("alarms.acknowledge", "POST")] == "alarm.acknowledge"
    assert actions[("alarms.index", "GET")] == "equipment.view"
    # The floor records its own cleaning; the admin's equipment.manage is status changes only.
    assert actions[("equipment_ui.record_cleaning", "POST")] == "equipment.clean"
    assert actions[("equipment_ui.set_status", "POST")] == "equipment.manage"


@pytest.mark.requirement("URS-SEC-002")
@pytest.mark.parametrize("role", list(Role), ids=[r.value for r in Role])
def test_each_role_reaches_exactly_the_routes_its_permissions_allow(walker_app: Flask, role: Role) -> None:
    client = _client_as(walker_app, role)
    wrong = []
    for route in routes(walker_app):
        if route.action in (None, PUBLIC) or route.endpoint == "auth.logout":
            continue
        status, location = answer(client, route)
        permitted = allowed([role], route.action)
        refused = status == 403 or "/auth/login" in location
        if permitted == refused:
            verdict = "refused" if refused else "allowed"
            wrong.append(f"{route.method} {route.url} needs {route.action}: {verdict} ({status})")
    assert wrong == [], f"{role.value}: " + "; ".join(wrong)


@pytest.mark.requirement("URS-SEC-002")
def test_a_stranger_reaches_only_the_public_routes(walker_app: Flask) -> None:
    client = walker_app.test_client()
    wrong = []
    for route in routes(walker_app):
        if route.endpoint in OPEN_TO_ALL or route.action == PUBLIC:
            continue
        status, location = answer(client, route)
        if not (status == 401 or (status == 302 and "/auth/login" in location)):
            wrong.append(f"{route.method} {route.url}: {status} {location}")
    assert wrong == [], "reachable without log-in: " + "; ".join(wrong)
