"""Nobody signs in another person's session: every API operation that takes a signature refuses
one whose signer is not the signed-in user (another QA person's password, an operator's, a
revoked user's), 403 with one line, before anything is looked up or stored.

The signing operations are found in the OpenAPI document (a request body with a password), so
a new one that is not classified here fails the first test.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from audit.models import AuditEvent
from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from signatures.models import Signature
from tests.integration.execution.conftest import PASSWORD, make_people

LATER = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).date().isoformat()

# (method, path) → (who is signed in, the body without its signature, where the signature goes, its meaning)
# fmt: off
OWN: dict[tuple[str, str], tuple[str, dict[str, Any], str | None, str | None]] = {
    ("POST", "/api/batches/{ref}/commands"): ("sam", {"command": "stop", "reason": "r"}, "signature", "stopped"),
    ("POST", "/api/batches/{ref}/steps/{path}/commands"): (
        "sam", {"command": "abort", "reason": "r"}, "signature", "aborted",
    ),
    ("POST", "/api/batches/{ref}/steps/{path}/verification"): ("sam", {}, None, "verified"),
    ("POST", "/api/recipes/{ref}/submit"): ("ada", {"reason": "r"}, "signature", None),
    ("POST", "/api/recipes/{ref}/approve"): ("abe", {"reason": "r"}, "signature", None),
    ("POST", "/api/deviations/{ref}/signatures"): ("quinn", {"comment": "c"}, "signature", "approved"),
    ("POST", "/api/entries/{entry_id}/corrections"): ("sam", {"value": "1", "reason": "r"}, "signature", "performed"),
    ("POST", "/api/lots/{lot_number}/status"): (
        "quinn", {"status": "released", "reason": "r"}, "signature", "released",
    ),
    ("POST", "/api/lots/{lot_number}/release"): ("quinn", {"reason": "r"}, "signature", "released"),
    ("POST", "/api/lots/{lot_number}/reject"): ("quinn", {"reason": "r"}, "signature", "rejected"),
    ("POST", "/api/lots/{lot_number}/quarantine"): ("quinn", {"reason": "r"}, "signature", "approved"),
    ("POST", "/api/lots/{lot_number}/retest"): ("quinn", {"retest_on": LATER, "reason": "r"}, "signature", "approved"),
    ("POST", "/api/equipment/{tag}/calibrations"): ("sam", {"passed": True}, "signature", None),
    ("POST", "/api/analytics/notifications/{number}/assessment"): (
        "quinn", {"assessment": "a", "conclusion": "no_action"}, "signature", None,
    ),
}
# fmt: on

# Operations where a password is, by design, another person's or not a signature at all.
NOT_OWN = {
    ("POST", "/api/session"): "the login itself",
    ("POST", "/api/batches/{ref}/steps/{path}/complete"): "a second person verifies or witnesses at the performer's "
    "tablet; the 'performed' signature must be the signed-in user's (refused in the engine)",
    ("POST", "/api/training/records"): "the trainee signs 'trained' in the trainer's session (ebr.training)",
}

COLLEAGUE = {"sam": "sue", "quinn": "queenie", "ada": "ann", "abe": "amy"}
ATTACKERS = ["colleague", "olga", "rex"]  # same role, an operator, a revoked QA person


def _signing_operations(spec: dict[str, Any]) -> set[tuple[str, str]]:
    schemas = spec["components"]["schemas"]

    def text(node: Any, seen: frozenset[str] = frozenset()) -> str:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                name = ref.rsplit("/", 1)[-1]
                return "" if name in seen else text(schemas[name], seen | {name})
            return " ".join([*map(str, node.keys()), *(text(v, seen) for v in node.values())])
        if isinstance(node, list):
            return " ".join(text(v, seen) for v in node)
        return ""

    return {
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method, op in operations.items()
        if isinstance(op, dict) and "password" in text(op.get("requestBody", {}))
    }


@pytest.fixture
def people(services: Services) -> None:
    make_people(services)
    extra = {"ada": "recipe_author", "ann": "recipe_author", "abe": "recipe_approver", "amy": "recipe_approver"}
    with unit_of_work(services.session_factory) as session:
        for user_id, role in {**extra, "rex": "qa"}.items():
            services.users.create(
                session, actor="admin", user_id=user_id, full_name=user_id.title(), roles=[role], password=PASSWORD,
                must_change=False,
            )  # fmt: skip
            services.users.accept_accountability(session, user_id=user_id)
        services.users.deactivate(session, actor="admin", user_id="rex", reason="left the company")


def _counts(services: Services) -> tuple[int, int]:
    with services.session_factory() as session:
        return (
            session.scalar(select(func.count()).select_from(Signature)) or 0,
            session.scalar(select(func.count()).select_from(AuditEvent)) or 0,
        )


def _login(app: Flask, user_id: str) -> FlaskClient:
    client = app.test_client()
    response = client.post("/api/session", json={"user_id": user_id, "password": PASSWORD})
    assert response.status_code == 200, response.json
    return client


def test_every_signing_operation_of_the_api_is_classified(app: Flask) -> None:
    spec = app.test_client().get("/api/openapi.json").get_json()
    assert _signing_operations(spec) == set(OWN) | set(NOT_OWN)


@pytest.mark.requirement("URS-SEC-032")
@pytest.mark.parametrize("attacker", ATTACKERS)
@pytest.mark.parametrize("operation", sorted(OWN), ids=lambda op: op[1])
def test_a_signature_by_anyone_but_the_signed_in_user_is_refused_and_nothing_is_stored(
    app: Flask, services: Services, people: None, operation: tuple[str, str], attacker: str
) -> None:
    method, path = operation
    who, body, where, meaning = OWN[operation]
    signer = COLLEAGUE[who] if attacker == "colleague" else attacker
    signature = {"user_id": signer, "password": PASSWORD} | ({"meaning": meaning} if meaning else {})
    payload = body | ({where: signature} if where else signature)
    url = path.format(
        ref="B-NOPE", path="UP1.OP1.PH1", entry_id="NOPE", lot_number="L-NOPE", number="TN-NOPE", tag="NOPE"
    )
    client = _login(app, who)
    before = _counts(services)
    response = client.open(url, method=method, json=payload)
    assert response.status_code == 403, (response.status_code, response.json)
    message = response.json["message"]
    assert message == f"you are signed in as {who!r}: sign with your own user id and password, not {signer!r}'s"
    assert _counts(services) == before


WEB_FORMS = [
    ("/review/batches/B-NOPE/reviewed", "quinn", "reviewed", {}),
    ("/review/batches/B-NOPE/release", "quinn", "released", {"confirm": "B-NOPE"}),
    ("/review/batches/B-NOPE/reject", "quinn", "rejected", {"comment": "r"}),
    ("/review/deviations/D-NOPE/sign", "sam", "verified", {"comment": "c"}),
    ("/lots/L-NOPE/decision", "quinn", "released", {"action": "release", "reason": "r"}),
    ("/lots/L-NOPE/retest", "quinn", "approved", {"retest_on": LATER, "reason": "r"}),
    ("/recipes/R-NOPE@1/submit", "ada", "authored", {}),
    ("/recipes/R-NOPE@1/approve", "abe", "approved", {}),
]


@pytest.mark.requirement("URS-SEC-032")
@pytest.mark.parametrize(("url", "who", "meaning", "form"), WEB_FORMS, ids=[f[0] for f in WEB_FORMS])
def test_the_signing_forms_of_the_browser_refuse_another_persons_signature(
    app: Flask, services: Services, people: None, url: str, who: str, meaning: str, form: dict[str, str]
) -> None:
    from tests.support.auth import csrf_token, login

    client = app.test_client()
    login(client, who, PASSWORD)
    token = csrf_token(client, "/auth/password")
    before = _counts(services)
    sent = {"csrf_token": token, "meaning": meaning, "sig_user": COLLEAGUE[who], "sig_password": PASSWORD} | form
    response = client.post(url, data=sent)
    assert response.status_code == 403, response.get_data(as_text=True)[:2000]
    assert "sign with your own user id and password" in response.get_data(as_text=True)
    assert _counts(services) == before
