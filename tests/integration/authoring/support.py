"""People and clients for the /api/recipes, /api/users, /api/audit and API token tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask.testing import FlaskClient

from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.integration import tokens

PASSWORD = "Correct-Horse-42"
PEOPLE = {
    "anna": ["recipe_author"],
    "paul": ["recipe_approver"],
    "adam": ["admin"],
    "ada2": ["admin"],
    "aud": ["auditor"],
    "quinn": ["qa"],
}


def add_people(services: Services, people: dict[str, list[str]] = PEOPLE) -> None:
    with unit_of_work(services.session_factory) as session:
        for user_id, roles in people.items():
            services.users.create(
                session, actor="system:test", user_id=user_id, full_name=f"{user_id.title()} Example", roles=roles,
                password=PASSWORD, must_change=False,
            )  # fmt: skip
            services.users.accept_accountability(session, user_id=user_id)


def login(client: FlaskClient, user: str) -> FlaskClient:
    response = client.post("/api/session", json={"user_id": user, "password": PASSWORD})
    assert response.status_code == 200, response.json
    return client


def call(client: FlaskClient, method: str, url: str, body: Any = None, expect: int = 200, **kw: Any) -> Any:
    response = client.open(url, method=method, json=body, **kw)
    assert response.status_code == expect, (response.status_code, response.get_data(as_text=True)[:2000])
    return response.json if response.is_json else response.get_data()


def token(services: Services, owner: str, name: str, scopes: list[str], days: int = 30) -> str:
    with unit_of_work(services.session_factory) as session:
        return tokens.create_api(
            session, audit=services.audit, clock=services.clock, users=services.users, owner=owner, name=name,
            scopes=scopes, expires_at=services.clock.now() + dt.timedelta(days=days),
        )  # fmt: skip


def sig(user: str) -> dict[str, str]:
    return {"user_id": user, "password": PASSWORD}
