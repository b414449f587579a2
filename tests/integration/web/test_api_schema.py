"""Schemathesis over the whole JSON API, with every check: answers match the OpenAPI document.

Every operation of ``/api/openapi.json`` gets generated requests (valid and invalid)
from the fuzzer, signed in as a user it cannot lock (a random id and password it
cannot guess; its own failed logins come from another client address, so the
per-client throttle never stops our re-login). Every response — above all every
error — must match what the document declares (the one ``ErrorOut`` body), and no
request may cause a server error. Bounded: ``EBR_FUZZ_EXAMPLES`` examples per
operation and generation mode (default 8; raise it for a long run).
"""

from __future__ import annotations

import os
import secrets

import hypothesis
import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from schemathesis.checks import CHECKS, load_all_checks

from ebr.app import create_app
from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.trail.services import ensure_system_key

EXAMPLES = int(os.environ.get("EBR_FUZZ_EXAMPLES", "8"))
FUZZER_ADDRESS = "10.99.0.1"
USER = f"fuzz-{secrets.token_hex(4)}"
PASSWORD = f"Fuzz-{secrets.token_urlsafe(12)}-9"


@pytest.fixture
def fuzz_app(services: Services) -> Flask:
    ensure_system_key(services)  # an installed system (`ebr init`): the audit API verifies and exports
    with unit_of_work(services.session_factory) as session:
        services.users.create(
            session, actor="system:test", user_id=USER, full_name="Fuzz Tester", roles=["supervisor", "qa"],
            password=PASSWORD, must_change=False,
        )  # fmt: skip
        services.users.accept_accountability(session, user_id=USER)
    app = create_app(services=services)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a crash must show as the 500 the client would get
    return app


@pytest.fixture
def signed_in(fuzz_app: Flask) -> FlaskClient:
    client = fuzz_app.test_client()
    assert client.post("/api/session", json={"user_id": USER, "password": PASSWORD}).status_code == 200
    return client


class SessionAuth:
    """Our signed-in session for every generated case (schemathesis then knows it is real auth)."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def get(self, case: schemathesis.Case, context: schemathesis.AuthContext) -> str:
        if self.client.get("/api/session").status_code != 200:  # the fuzzer logged our session out
            assert self.client.post("/api/session", json={"user_id": USER, "password": PASSWORD}).status_code == 200
        cookie = self.client.get_cookie("session")
        assert cookie is not None
        return cookie.value

    def set(self, case: schemathesis.Case, data: str, context: schemathesis.AuthContext) -> None:
        case.cookies = {**(case.cookies or {}), "session": data}


@pytest.mark.requirement("URS-SEC-011")
def test_every_api_answer_matches_the_openapi_document(fuzz_app: Flask, signed_in: FlaskClient) -> None:
    load_all_checks()
    checks = CHECKS.get_all()
    loaded = schemathesis.openapi.from_wsgi("/api/openapi.json", fuzz_app)
    # 422 is also how the API refuses schema-valid input that breaks a domain rule the document
    # cannot state (a recipe or material that does not exist, a size outside the recipe's range).
    accepted = loaded.config.checks.positive_data_acceptance
    accepted.expected_statuses = [*accepted.expected_statuses, "422"]

    class OurSession(SessionAuth):
        def __init__(self) -> None:
            super().__init__(signed_in)

    loaded.auth(refresh_interval=None)(OurSession)
    operations = [result.ok() for result in loaded.get_all_operations()]
    assert len(operations) >= 30, [op.label for op in operations]
    transport = {"environ_base": {"REMOTE_ADDR": FUZZER_ADDRESS}}

    def call(case: schemathesis.Case) -> None:
        response = case.call(**transport)
        case.validate_response(response, checks=checks, transport_kwargs=transport)

    settings = hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    failures: list[str] = []
    for operation in operations:
        for mode in schemathesis.GenerationMode:

            def run(case: schemathesis.Case) -> None:
                call(case)

            strategy = operation.as_strategy(mode, auth_storage=loaded.auth)
            try:
                hypothesis.given(case=strategy)(settings(run))()
            except hypothesis.errors.Unsatisfiable:
                # Nothing of this operation can be made invalid (no parameters, no body).
                assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collected, reported below
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)
