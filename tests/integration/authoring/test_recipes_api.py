"""``/api/recipes``: list, versions, get, import, export, diff, submit and approve (signed) on both databases."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select

from audit.models import AuditEvent
from ebr.bootstrap import Services
from recipes.models import RecipeVersion
from tests.integration.authoring.support import add_people, call, login, sig
from tests.unit.recipes.helpers import LIQUID, example_text


@pytest.fixture
def people(services: Services) -> None:
    add_people(services)


def _count(services: Services, model: type) -> int:
    with services.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.requirement("URS-API-001")
def test_an_author_imports_and_an_approver_approves_a_recipe_through_the_api(
    app: Flask, services: Services, people: None
) -> None:
    author = login(app.test_client(), "anna")
    created = call(author, "POST", "/api/recipes/import", {"content": example_text(LIQUID)}, expect=201)
    assert len(created) == 1
    assert created[0]["status"] == "draft"
    label = created[0]["label"]
    name = created[0]["name"]

    assert [v["label"] for v in call(author, "GET", "/api/recipes")] == [label]
    assert [v["label"] for v in call(author, "GET", f"/api/recipes/{name}/versions")] == [label]
    one = call(author, "GET", f"/api/recipes/{label}")
    assert one["content"]["name"] == name
    assert one["content_hash"]

    submitted = call(author, "POST", f"/api/recipes/{label}/submit", {"signature": sig("anna")})
    assert submitted["status"] == "in_review"
    assert submitted["submitted_by"] == "anna"

    approver = login(app.test_client(), "paul")
    approved = call(approver, "POST", f"/api/recipes/{label}/approve", {"signature": sig("paul"), "reason": "ok"})
    assert approved["status"] == "approved"
    assert approved["approved_by"] == "paul"
    assert approved["effective_from"]

    xml = app.test_client()
    login(xml, "aud")
    response = xml.get(f"/api/recipes/{label}/export")
    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    assert b"<" in response.data
    yaml_text = xml.get(f"/api/recipes/{label}/export?format=yaml")
    assert yaml_text.mimetype == "application/yaml"
    assert name.encode() in yaml_text.data

    # The export imports again as the next version; the diff of the two is empty.
    again = call(author, "POST", "/api/recipes/import", {"content": yaml_text.get_data(as_text=True)}, expect=201)
    diff = call(author, "GET", f"/api/recipes/diff?a={label}&b={again[0]['label']}")
    assert diff["same"] is True
    assert diff["diff"] == ""


@pytest.mark.requirement("URS-API-002")
def test_a_recipe_author_cannot_approve_their_own_recipe_through_the_api(app: Flask, services: Services) -> None:
    add_people(services, {"vera": ["recipe_author", "recipe_approver"]})
    vera = login(app.test_client(), "vera")
    label = call(vera, "POST", "/api/recipes/import", {"content": example_text(LIQUID)}, expect=201)[0]["label"]
    call(vera, "POST", f"/api/recipes/{label}/submit", {"signature": sig("vera")})
    refused = vera.post(f"/api/recipes/{label}/approve", json={"signature": sig("vera")})
    assert refused.status_code == 403, refused.json
    assert refused.json["error"] == "SegregationOfDuties"
    assert call(vera, "GET", f"/api/recipes/{label}")["status"] == "in_review"


@pytest.mark.requirement("URS-API-002")
def test_nobody_signs_as_someone_else_and_a_wrong_role_is_refused(app: Flask, services: Services, people: None) -> None:
    author = login(app.test_client(), "anna")
    label = call(author, "POST", "/api/recipes/import", {"content": example_text(LIQUID)}, expect=201)[0]["label"]
    as_other = author.post(f"/api/recipes/{label}/submit", json={"signature": sig("paul")})
    assert as_other.status_code == 403
    assert "sign with your own user id" in as_other.json["message"]
    call(author, "POST", f"/api/recipes/{label}/submit", {"signature": sig("anna")})
    # The author lacks recipe.approve; QA lacks recipe.author.
    assert author.post(f"/api/recipes/{label}/approve", json={"signature": sig("anna")}).status_code == 403
    qa = login(app.test_client(), "quinn")
    assert qa.post("/api/recipes/import", json={"content": example_text(LIQUID)}).status_code == 403
    assert app.test_client().get("/api/recipes").status_code == 401


HOSTILE = {
    "xxe": (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<BatchInformation xmlns="http://www.mesa.org/xml/B2MML-V0600"><Description>&x;</Description>'
        "</BatchInformation>"
    ),
    "billion laughs": (
        '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]><l>&d;</l>'
    ),
    "yaml aliases": "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c]\n",
    "duplicate keys": example_text(LIQUID) + "\nname: SOMETHING-ELSE\n",
    "not a recipe": "just: text\n",
    "binary": "\x00\x01\x02",
}


@pytest.mark.requirement("URS-API-003")
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_hostile_document_is_refused_with_problems_and_nothing_is_stored(
    app: Flask, services: Services, people: None, kind: str
) -> None:
    author = login(app.test_client(), "anna")
    versions, events = _count(services, RecipeVersion), _count(services, AuditEvent)
    response = author.post("/api/recipes/import", json={"content": HOSTILE[kind]})
    assert response.status_code in (413, 422), (response.status_code, response.json)
    assert response.json["message"]
    assert _count(services, RecipeVersion) == versions
    assert _count(services, AuditEvent) == events


def test_unknown_versions_and_bad_queries_answer_one_clear_error(app: Flask, people: None) -> None:
    reader = login(app.test_client(), "aud")
    assert reader.get("/api/recipes/NOPE@1").json["error"] == "NotFound"
    assert reader.get("/api/recipes/NOPE@1/export?format=pdf").status_code == 422
    assert reader.get("/api/recipes/diff?a=X@1").status_code == 422
