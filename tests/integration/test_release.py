"""QA's review, release and rejection of a batch: signed, in order, never by a participant."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from audit.models import AuditEvent
from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.core.errors import EbrError, StateError, ValidationError
from ebr.execution.service import build
from ebr.materials.services import Credentials
from ebr.review import services as release
from tests.e2e.test_ui_batch import run_with_a_deviation
from tests.integration.execution.conftest import PASSWORD, SIMPLE, make_people, make_plant, recipe
from tests.integration.test_review_exceptions import dispose_all


def sig(user: str, meaning: str) -> Credentials:
    return Credentials(user_id=user, password=PASSWORD, meaning=meaning)


@pytest.fixture
def complete_batch(services: Services) -> str:
    make_people(services)
    make_plant(services, {"R-101": "unit"})
    with unit_of_work(services.session_factory) as session:
        services.users.create(
            session, actor="admin", user_id="olivia", full_name="Olivia Supervisor-QA", roles=["supervisor", "qa"],
            password=PASSWORD, must_change=False,
        )  # fmt: skip
        services.users.accept_accountability(session, user_id="olivia")
    ex = build(services)
    with unit_of_work(services.session_factory) as session:
        number: str = ex.create_from_recipe(
            session, actor="sam", master=recipe(SIMPLE), version="1", size="100", order="PO-1"
        ).number
    with unit_of_work(services.session_factory) as session:
        ex.release_to_floor(session, actor="sam", ref=number)
    run_with_a_deviation(services, number)
    return number


def decide(services: Services, number: str, user: str, decision: str, comment: str | None = None) -> Any:
    with unit_of_work(services.session_factory) as session:
        return release.decide(
            session, build(services).ctx, actor=user, ref=number, decision=decision,
            signature=sig(user, decision), comment=comment,
        )  # fmt: skip


@pytest.mark.requirement("URS-QA-001")
def test_qa_reviews_then_releases_with_signatures_and_audit_events(services: Services, complete_batch: str) -> None:
    with pytest.raises(StateError, match="only when reviewed"):
        decide(services, complete_batch, "quinn", "released")
    decide(services, complete_batch, "quinn", "reviewed")
    with pytest.raises(ValidationError, match="cannot be released"):
        decide(services, complete_batch, "queenie", "released")  # its exceptions wait for QA's disposition
    dispose_all(services, complete_batch)
    batch = decide(services, complete_batch, "queenie", "released")
    assert batch.status == "released"
    with services.session_factory() as session:
        query = select(AuditEvent.action).where(AuditEvent.entity_id == complete_batch).order_by(AuditEvent.seq)
        actions = [a for a in session.scalars(query) if a in ("batch.reviewed", "batch.released", "signature.applied")]
    assert actions[-4:] == ["signature.applied", "batch.reviewed", "signature.applied", "batch.released"]


@pytest.mark.requirement("URS-QA-001")
def test_release_is_refused_with_an_open_deviation_and_names_it(services: Services, complete_batch: str) -> None:
    ex = build(services)
    with unit_of_work(services.session_factory) as session:
        dev = ex.open_deviation(
            session, actor="quinn", ref=complete_batch, path=None, severity="minor", description="label smudged"
        )
    decide(services, complete_batch, "quinn", "reviewed")
    with pytest.raises(ValidationError) as refused:
        decide(services, complete_batch, "queenie", "released")
    assert any(dev.number in problem for problem in refused.value.problems)


@pytest.mark.requirement("URS-QA-001", "URS-SIG-004")
def test_someone_who_took_part_in_the_batch_cannot_release_it(services: Services, complete_batch: str) -> None:
    ex = build(services)
    with unit_of_work(services.session_factory) as session:
        # olivia (supervisor and QA) handles a deviation of the batch: she took part in it.
        dev = ex.open_deviation(
            session, actor="quinn", ref=complete_batch, path=None, severity="minor", description="extra check"
        )
    with unit_of_work(services.session_factory) as session:
        ex.handle_deviation(
            session, actor="olivia", ref=dev.number, comment="checked", signature=sig("olivia", "verified")
        )
    decide(services, complete_batch, "quinn", "reviewed")
    dispose_all(services, complete_batch)
    with pytest.raises(EbrError, match="took part"):
        decide(services, complete_batch, "olivia", "released")


@pytest.mark.requirement("URS-QA-001")
def test_a_rejection_needs_a_reason(services: Services, complete_batch: str) -> None:
    with pytest.raises(ValidationError, match="needs a reason"):
        decide(services, complete_batch, "quinn", "rejected")
    assert decide(services, complete_batch, "quinn", "rejected", "assay out of specification").status == "rejected"


def run_leaving_a_verification(services: Services) -> str:
    """A SIMPLE batch run to completion with UP1.OP1.PH2 completed and its verification left for later."""
    make_people(services)
    make_plant(services, {"R-101": "unit"})
    ex = build(services)

    def work(fn: Any, **kwargs: Any) -> Any:
        with unit_of_work(services.session_factory) as session:
            return fn(session, **kwargs)

    number: str = work(
        lambda session: (
            ex.create_from_recipe(
                session, actor="sam", master=recipe(SIMPLE), version="1", size="100", order="PO-2"
            ).number
        )
    )
    work(ex.release_to_floor, actor="sam", ref=number)
    work(ex.start_batch, actor="olga", ref=number)
    for path, values, signers in (
        ("UP1.OP1.PH1", None, [sig("olga", "performed")]),
        ("UP1.OP1.PH2", None, [sig("olga", "performed")]),
        ("UP1.OP1.PH3", {"value": "21"}, [sig("olga", "performed")]),
        ("UP1.OP2.PH1", {"sample_id": "S-1"}, [sig("olga", "performed")]),
        ("UP1.OP2.PH2", None, [sig("olga", "performed")]),
        ("UP1.OP2.PH3", None, [sig("olga", "performed"), sig("sue", "verified")]),
    ):
        work(ex.start_step, actor="olga", ref=number, path=path)
        work(ex.complete_step, actor="olga", ref=number, path=path, values=values, signatures=signers)
    return number


@pytest.mark.requirement("URS-QA-001", "URS-BAT-008")
def test_release_waits_for_a_verification_left_for_later_and_is_allowed_after_it(services: Services) -> None:
    number = run_leaving_a_verification(services)
    decide(services, number, "quinn", "reviewed")
    with pytest.raises(ValidationError) as refused:
        decide(services, number, "queenie", "released")
    assert refused.value.problems == [
        "step UP1.OP1.PH2 waits for verification: a supervisor signs it 'verified' from the verification queue first"
    ]
    with unit_of_work(services.session_factory) as session:
        build(services).verify_step(
            session, actor="sam", ref=number, path="UP1.OP1.PH2", signature=sig("sam", "verified")
        )
    assert decide(services, number, "queenie", "released").status == "released"
    with (
        pytest.raises(StateError, match="is released; its steps can no longer be verified"),
        unit_of_work(services.session_factory) as session,
    ):
        build(services).verify_step(
            session, actor="sue", ref=number, path="UP1.OP1.PH2", signature=sig("sue", "verified")
        )
