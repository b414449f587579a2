"""Helpers for driving batches through the JSON API: approved recipes, logins, step calls."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from tests.integration.execution.conftest import PASSWORD

AUTHORS = {"ada": ("Ada Author", ["recipe_author"]), "abe": ("Abe Approver", ["recipe_approver"])}


def approve_recipe(services: Services, text: str, source: str) -> str:
    """Import ``text`` as a draft, submit it as ada and approve it as abe; returns ``NAME@VERSION``."""
    with unit_of_work(services.session_factory) as session:
        for user_id, (name, roles) in AUTHORS.items():
            if not any(u.user_id == user_id for u in services.users.list(session)):
                services.users.create(
                    session,
                    actor="admin",
                    user_id=user_id,
                    full_name=name,
                    roles=roles,
                    password=PASSWORD,
                    must_change=False,
                )
                services.users.accept_accountability(session, user_id=user_id)
    with unit_of_work(services.session_factory) as session:
        row = services.recipes.import_text(session, actor="ada", data=text, source=source)[0]
        label = row.label
    with unit_of_work(services.session_factory) as session:
        services.recipes.submit_for_review(session, ref=label, user_id="ada", password=PASSWORD)
    with unit_of_work(services.session_factory) as session:
        services.recipes.approve(session, ref=label, user_id="abe", password=PASSWORD)
    return str(label)


class Api:
    """A logged-in API client for one person."""

    def __init__(self, client: FlaskClient, user: str) -> None:
        self.client = client
        self.user = user
        self.login()

    def login(self) -> None:
        response = self.client.post("/api/session", json={"user_id": self.user, "password": PASSWORD})
        assert response.status_code == 200, response.json

    def call(self, method: str, url: str, body: Any = None, expect: int | tuple[int, ...] = (200, 201)) -> Any:
        response = self.client.open(url, method=method, json=body)
        wanted = (expect,) if isinstance(expect, int) else expect
        assert response.status_code in wanted, (response.status_code, response.json)
        return response.json

    def sig(self, meaning: str = "performed") -> dict[str, str]:
        return {"user_id": self.user, "password": PASSWORD, "meaning": meaning}

    def step(self, batch: str, path: str) -> Any:
        return self.call("GET", f"/api/batches/{batch}/steps/{path}")

    def start(self, batch: str, path: str) -> Any:
        return self.call("POST", f"/api/batches/{batch}/steps/{path}/start", {})

    def record(self, batch: str, path: str, values: dict[str, Any], expect: int | tuple[int, ...] = 201) -> Any:
        return self.call("POST", f"/api/batches/{batch}/steps/{path}/entries", {"values": values}, expect)

    def complete(
        self,
        batch: str,
        path: str,
        *,
        values: dict[str, Any] | None = None,
        verifier: Api | None = None,
        meanings: tuple[str, ...] = ("performed",),
        expect: int | tuple[int, ...] = 200,
    ) -> Any:
        signatures = [self.sig()] if "performed" in meanings else []
        if verifier is not None:
            signatures.append(verifier.sig("verified"))
        body: dict[str, Any] = {"signatures": signatures}
        if values is not None:
            body["values"] = values
        return self.call("POST", f"/api/batches/{batch}/steps/{path}/complete", body, expect)
