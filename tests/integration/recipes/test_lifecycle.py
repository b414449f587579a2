"""Recipe versions: import, signed review and approval, effectivity, supersession, audit."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from sqlalchemy import select

from audit.chain import Entity
from audit.models import AuditEvent
from ebr.bootstrap import Services
from ebr.core.clock import FixedClock
from ebr.core.errors import NotFound, PermissionDenied, StateError
from recipes.authoring import RecipeInvalid
from recipes.services import NotEffective
from signatures.errors import SegregationOfDuties, WrongPassword
from tests.unit.recipes.helpers import LIQUID, SOLID, example, example_text

PW = "Correct-Horse-42"


def import_liquid(svc: Services, text: str | None = None) -> str:
    with svc.session_factory.begin() as session:
        [row] = svc.recipes.import_text(session, actor="anna", data=text or example_text(LIQUID), source=LIQUID)
        return row.label


def submit(svc: Services, ref: str, user: str = "anna") -> None:
    with svc.session_factory.begin() as session:
        svc.recipes.submit_for_review(session, ref=ref, user_id=user, password=PW)


def approve(svc: Services, ref: str, user: str = "paul", at: dt.datetime | None = None) -> None:
    with svc.session_factory.begin() as session:
        svc.recipes.approve(session, ref=ref, user_id=user, password=PW, effective_from=at)


def status(svc: Services, ref: str) -> str:
    with svc.session_factory() as session:
        return svc.recipes.get(session, ref)[0].status


@pytest.mark.requirement("URS-REC-003")
def test_a_recipe_goes_from_draft_through_signed_review_to_approved_and_then_makes_batches(
    svc: Services, people: dict[str, str]
) -> None:
    ref = import_liquid(svc)
    assert ref == "PCM-SOL-24@1"
    with svc.session_factory() as session, pytest.raises(NotEffective, match="no approved version effective"):
        svc.recipes.get_effective(session, "PCM-SOL-24")
    submit(svc, ref)
    assert status(svc, ref) == "in_review"
    approve(svc, ref)
    with svc.session_factory() as session:
        row, recipe = svc.recipes.get_effective(session, "PCM-SOL-24")
        signatures = {s.meaning: s for s in svc.signing.list_for_subject(session, _entity(ref))}
    assert (row.label, row.status, row.submitted_by, row.approved_by) == (ref, "approved", "anna", "paul")
    assert recipe == example(LIQUID)
    assert signatures["authored"].signer == "anna"
    assert signatures["approved"].signer == "paul"
    assert row.approval_signature_id == signatures["approved"].id


@pytest.mark.requirement("URS-REC-003")
def test_the_author_cannot_approve_their_own_recipe_even_with_the_approver_role(
    svc: Services, people: dict[str, str]
) -> None:
    with svc.session_factory.begin() as session:
        [row] = svc.recipes.import_text(session, actor="vera", data=example_text(SOLID), source=SOLID)
        ref = row.label
    submit(svc, ref, user="vera")
    with pytest.raises(SegregationOfDuties, match="authored this version"):
        approve(svc, ref, user="vera")
    assert status(svc, ref) == "in_review"
    approve(svc, ref, user="paul")
    assert status(svc, ref) == "approved"


@pytest.mark.requirement("URS-REC-003")
def test_signing_needs_the_right_role_and_the_right_password(svc: Services, people: dict[str, str]) -> None:
    ref = import_liquid(svc)
    with pytest.raises(WrongPassword), svc.session_factory.begin() as session:
        svc.recipes.submit_for_review(session, ref=ref, user_id="anna", password="wrong-password-1")
    with pytest.raises(PermissionDenied):
        submit(svc, ref, user="otto")
    assert status(svc, ref) == "draft"
    submit(svc, ref)
    with pytest.raises(PermissionDenied):
        approve(svc, ref, user="otto")
    assert status(svc, ref) == "in_review"


@pytest.mark.requirement("URS-REC-003")
def test_only_the_next_step_of_the_lifecycle_is_allowed(svc: Services, people: dict[str, str]) -> None:
    ref = import_liquid(svc)
    with pytest.raises(StateError, match="PCM-SOL-24@1 is draft; only a version that is in_review can be approved"):
        approve(svc, ref)
    submit(svc, ref)
    with pytest.raises(StateError, match="only a version that is draft can be submitted"):
        submit(svc, ref)


@pytest.mark.requirement("URS-REC-003")
def test_a_new_version_supersedes_the_old_one_from_its_effective_date(
    svc: Services, people: dict[str, str], clock: FixedClock
) -> None:
    first = import_liquid(svc)
    submit(svc, first)
    approve(svc, first)
    second = import_liquid(svc, example_text(LIQUID).replace("value: 750.0", "value: 752.0"))
    assert second == "PCM-SOL-24@2"
    submit(svc, second)
    start = clock.now() + dt.timedelta(days=7)
    approve(svc, second, at=start)
    with svc.session_factory() as session:
        assert svc.recipes.get_effective(session, "PCM-SOL-24")[0].label == first
        assert svc.recipes.get_effective(session, "PCM-SOL-24", at=start)[0].label == second
        _row, recipe = svc.recipes.get_effective(session, "PCM-SOL-24", "2", at=start + dt.timedelta(days=1))
        assert recipe.formula.get("water_charge").value == 752  # type: ignore[union-attr]
        with pytest.raises(
            NotEffective, match=r"PCM-SOL-24@1 is not the effective version \(effective: PCM-SOL-24@2\)"
        ):
            svc.recipes.get_effective(session, "PCM-SOL-24", 1, at=start)
    assert status(svc, first) == "superseded"


@pytest.mark.requirement("URS-REC-003")
def test_an_obsolete_version_can_no_longer_make_batches(svc: Services, people: dict[str, str]) -> None:
    ref = import_liquid(svc)
    submit(svc, ref)
    approve(svc, ref)
    with pytest.raises(PermissionDenied), svc.session_factory.begin() as session:
        svc.recipes.obsolete(session, ref=ref, actor="anna", reason="replaced")
    with svc.session_factory.begin() as session:
        svc.recipes.obsolete(session, ref=ref, actor="paul", reason="product discontinued")
    with svc.session_factory() as session, pytest.raises(NotEffective):
        svc.recipes.get_effective(session, "PCM-SOL-24")


@pytest.mark.requirement("URS-REC-003")
def test_every_change_is_in_the_audit_trail_with_who_and_what(svc: Services, people: dict[str, str]) -> None:
    ref = import_liquid(svc)
    submit(svc, ref)
    with svc.session_factory.begin() as session:
        svc.recipes.return_to_draft(session, ref=ref, actor="paul", reason="state the filter size")
    submit(svc, ref)
    approve(svc, ref)
    with svc.session_factory() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.entity_id == ref).order_by(AuditEvent.seq)).all()
        actions = [(e.action, e.actor) for e in events]
        created = json.loads(events[0].canonical)
    assert actions == [
        ("recipe.version.created", "anna"),
        ("signature.applied", "anna"),
        ("recipe.version.submitted", "anna"),
        ("recipe.version.returned", "paul"),
        ("signature.applied", "anna"),
        ("recipe.version.submitted", "anna"),
        ("signature.applied", "paul"),
        ("recipe.version.approved", "paul"),
    ]
    assert created["after"]["status"] == "draft"
    assert len(created["after"]["content_hash"]) == 64


@pytest.mark.requirement("URS-REC-002")
def test_an_invalid_document_stores_nothing_and_audits_nothing(svc: Services, people: dict[str, str]) -> None:
    broken = example_text(LIQUID).replace("tolerance: 2.0", "tolerance: two")
    with pytest.raises(RecipeInvalid, match="nothing was imported"):
        import_liquid(svc, broken)
    with svc.session_factory() as session:
        assert svc.recipes.list(session) == []
        assert session.scalars(select(AuditEvent).where(AuditEvent.action.like("recipe.%"))).all() == []


def test_only_recipe_authors_can_import(svc: Services, people: dict[str, str]) -> None:
    with pytest.raises(PermissionDenied), svc.session_factory.begin() as session:
        svc.recipes.import_text(session, actor="otto", data=example_text(LIQUID), source=LIQUID)


def test_the_diff_between_two_versions_shows_the_changed_value_in_context(
    svc: Services, people: dict[str, str]
) -> None:
    import_liquid(svc)
    import_liquid(svc, example_text(LIQUID).replace("value: 750.0", "value: 752.0"))
    with svc.session_factory() as session:
        text = svc.recipes.diff(session, "PCM-SOL-24@1", "PCM-SOL-24@2")
        with pytest.raises(NotFound, match="PCM-SOL-24@9 does not exist"):
            svc.recipes.diff(session, "PCM-SOL-24@1", "PCM-SOL-24@9")
    assert "--- PCM-SOL-24@1" in text
    assert "-    value: 750.0\n" in text
    assert "+    value: 752.0\n" in text
    assert "name: water_charge" in text


def _entity(ref: str) -> Entity:
    return Entity("recipe_version", ref)


@pytest.mark.requirement("URS-REC-003")
def test_two_approvers_approving_at_the_same_moment_make_exactly_one_approval(
    svc: Services, people: dict[str, str]
) -> None:
    ref = import_liquid(svc)
    submit(svc, ref)
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def attempt(user: str) -> None:
        barrier.wait()
        try:
            approve(svc, ref, user=user)
            outcomes[user] = "approved"
        except StateError as exc:
            outcomes[user] = str(exc)

    threads = [threading.Thread(target=attempt, args=(user,)) for user in ("paul", "vera")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    results = sorted(outcomes.values(), key=lambda outcome: outcome != "approved")
    assert results[0] == "approved"
    assert results[1] == "PCM-SOL-24@1 is approved; only a version that is in_review can be approved"
    with svc.session_factory() as session:
        approvals = [s for s in svc.signing.list_for_subject(session, _entity(ref)) if s.meaning == "approved"]
    assert len(approvals) == 1
