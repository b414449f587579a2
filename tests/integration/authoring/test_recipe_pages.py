"""Recipes in the browser: upload (problems listed, nothing stored), draft edits, procedure chart, side-by-side diff."""

from __future__ import annotations

import io
import json

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from audit.models import AuditEvent
from ebr.bootstrap import Services
from recipes.models import RecipeVersion
from tests.integration.authoring.support import PASSWORD, add_people
from tests.unit.recipes.helpers import LIQUID, example_text


@pytest.fixture
def people(app: Flask, services: Services) -> None:
    app.config["WTF_CSRF_ENABLED"] = False  # CSRF is proven in tests/integration/signatures
    add_people(services, {"anna": ["recipe_author"], "vera": ["recipe_author"], "olga": ["operator"]})


def browser(app: Flask, user: str) -> FlaskClient:
    client = app.test_client()
    assert client.post("/auth/login", data={"user_id": user, "password": PASSWORD}).status_code == 302
    return client


def upload(client: FlaskClient, text: str | bytes, filename: str = "recipe.yaml") -> tuple[int, str]:
    data = text.encode() if isinstance(text, str) else text
    response = client.post(
        "/recipes/upload", data={"file": (io.BytesIO(data), filename)}, content_type="multipart/form-data",
        headers={"Accept": "text/html"},
    )  # fmt: skip
    return response.status_code, response.get_data(as_text=True)


def versions(services: Services) -> int:
    with services.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(RecipeVersion)) or 0)


@pytest.mark.requirement("URS-REC-020")
@pytest.mark.usefixtures("people")
def test_an_upload_lists_every_problem_with_its_path_and_stores_nothing(app: Flask, services: Services) -> None:
    author = browser(app, "anna")
    broken = example_text(LIQUID).replace("nominal: 1000", "nominal: lots")
    status, page = upload(author, broken)
    assert status == 422
    assert "batch_size.nominal" in page
    assert versions(services) == 0
    status, page = upload(author, example_text(LIQUID) + "\nname: OTHER\n")  # duplicate key
    assert status == 422
    assert "name" in page
    assert versions(services) == 0
    status, _page = upload(
        author, b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><x>&e;</x>", "r.xml"
    )
    assert status == 422
    assert versions(services) == 0
    assert browser(app, "olga").get("/recipes/upload").status_code == 403


@pytest.mark.requirement("URS-REC-020")
@pytest.mark.usefixtures("people")
def test_an_author_uploads_and_edits_a_draft_and_the_change_is_audited(app: Flask, services: Services) -> None:
    author = browser(app, "anna")
    status, _page = upload(author, example_text(LIQUID))
    assert status == 302
    form = author.get("/recipes/PCM-SOL-24@1/edit").get_data(as_text=True)
    assert 'name="param.water_charge.high"' in form
    bad = author.post("/recipes/PCM-SOL-24@1/edit", data={"param.water_charge.high": "a lot"})
    assert bad.status_code == 422
    assert "not a number" in bad.get_data(as_text=True)
    saved = author.post(
        "/recipes/PCM-SOL-24@1/edit",
        data={"param.water_charge.high": "765", "title": "Paracetamol 24 mg/mL (edited)", "reason": "DR-115"},
    )
    assert saved.status_code == 302
    with services.session_factory() as session:
        row, recipe = services.recipes.get(session, "PCM-SOL-24@1")
        assert str(recipe.formula.get("water_charge").high) == "765"  # type: ignore[union-attr]
        assert row.title == "Paracetamol 24 mg/mL (edited)"
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "recipe.version.edited")).one()
        body = json.loads(event.canonical)
        assert body["before"]["fields"]["param.water_charge.high"] == "760.0"
        assert body["after"]["fields"]["param.water_charge.high"] == "765"
        assert event.reason == "DR-115"
    # Another author does not edit anna's draft (she would otherwise approve changes unseen).
    other = browser(app, "vera").post("/recipes/PCM-SOL-24@1/edit", data={"title": "mine now"})
    assert other.status_code == 403


@pytest.mark.requirement("URS-REC-021")
@pytest.mark.usefixtures("people")
def test_the_recipe_page_shows_the_procedure_chart_and_a_side_by_side_diff(app: Flask, services: Services) -> None:
    author = browser(app, "anna")
    upload(author, example_text(LIQUID))
    upload(author, example_text(LIQUID).replace("high: 760.0", "high: 770.0"))
    page = author.get("/recipes/PCM-SOL-24@2").get_data(as_text=True)
    assert "/recipes/PCM-SOL-24@2/sfc.svg" in page
    chart = author.get("/recipes/PCM-SOL-24@2/sfc.svg")
    assert chart.mimetype == "image/svg+xml"
    svg = chart.get_data(as_text=True)
    assert svg.startswith("<svg")
    assert "Dose purified water" in svg
    assert "PH6 == &quot;clear&quot;" in svg  # a transition's condition
    diff = author.get("/recipes/diff?a=PCM-SOL-24@1&b=PCM-SOL-24@2").get_data(as_text=True)
    assert "diff-changed" in diff
    assert "770.0" in diff
    assert "760.0" in diff
