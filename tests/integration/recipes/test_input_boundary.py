"""Issue 19 against the database: refused imports store nothing, third-party files import, no backdating."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from audit.models import AuditEvent
from ebr.bootstrap import Services
from ebr.core.clock import FixedClock
from ebr.core.errors import RecipeError
from recipes.authoring import RecipeInvalid
from recipes.batchml import export_batchml
from recipes.models import RecipeVersion
from tests.unit.recipes.helpers import LIQUID, example, example_text
from tests.unit.recipes.test_fuzz import MUTATION, mutate_bytes

PW = "Correct-Horse-42"
DATA = Path(__file__).parents[2] / "data" / "batchml"
EXAMPLES = max(int(os.environ.get("EBR_FUZZ_EXAMPLES", "120")) // 4, 10)


def counts(svc: Services) -> tuple[int, int]:
    with svc.session_factory() as session:
        versions = session.scalar(select(func.count()).select_from(RecipeVersion)) or 0
        events = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    return versions, events


@pytest.mark.requirement("URS-REC-007")
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.sampled_from(["yaml", "xml"]),
    mutations=st.lists(MUTATION, min_size=1, max_size=3),
)
def test_a_refused_import_stores_no_version_and_no_audit_event(
    svc: Services, people: dict[str, str], seed: str, mutations: list[tuple[str, float, bytes]]
) -> None:
    base = example_text(LIQUID).encode("utf-8") if seed == "yaml" else export_batchml(example(LIQUID))
    data = mutate_bytes(base, mutations)
    before = counts(svc)
    try:
        with svc.session_factory.begin() as session:
            rows = svc.recipes.import_text(session, actor="anna", data=data, source=f"fuzz.{seed}")
            stored = len(rows)
    except RecipeInvalid:
        stored = 0
    versions, events = counts(svc)
    assert versions == before[0] + stored
    assert (events == before[1]) == (stored == 0)


@pytest.mark.requirement("URS-REC-005")
def test_the_third_party_recipe_imports_with_its_report_stored_and_audited(
    svc: Services, people: dict[str, str]
) -> None:
    with svc.session_factory.begin() as session:
        [row] = svc.recipes.import_text(
            session, actor="anna", data=(DATA / "third-party-v02.xml").read_bytes(), source="third-party-v02.xml"
        )
        label, unmapped = row.label, json.loads(row.unmapped or "[]")
    assert label == "BUF-PB74@1"
    assert len(unmapped) == 10
    with svc.session_factory() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "recipe.version.created")).one()
    assert "BUF-PB74@1" in event.entity_id


@pytest.mark.requirement("URS-REC-005")
def test_name_at_import_names_the_stored_version(svc: Services, people: dict[str, str]) -> None:
    with svc.session_factory.begin() as session:
        [row] = svc.recipes.import_text(
            session, actor="anna", data=(DATA / "third-party-v0701.xml").read_bytes(), source="t.xml", name="PB74"
        )
        assert row.label == "PB74@1"


@pytest.mark.requirement("URS-REC-008")
def test_an_approval_cannot_be_backdated(svc: Services, people: dict[str, str], clock: FixedClock) -> None:
    with svc.session_factory.begin() as session:
        [row] = svc.recipes.import_text(session, actor="anna", data=example_text(LIQUID), source=LIQUID)
        ref = row.label
    with svc.session_factory.begin() as session:
        svc.recipes.submit_for_review(session, ref=ref, user_id="anna", password=PW)
    before = counts(svc)
    with pytest.raises(RecipeError, match="an approval cannot be backdated"), svc.session_factory.begin() as session:
        svc.recipes.approve(
            session, ref=ref, user_id="paul", password=PW, effective_from=clock.now() - dt.timedelta(seconds=1)
        )
    assert counts(svc) == before
    with svc.session_factory.begin() as session:
        approved = svc.recipes.approve(session, ref=ref, user_id="paul", password=PW, effective_from=clock.now())
        assert approved.status == "approved"
