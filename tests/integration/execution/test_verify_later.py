"""Complete now, verify later: a step's 'verified' signature may be given after completion, from the queue."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from sqlalchemy import select

from audit.models import AuditEvent
from ebr.core.errors import EbrError, StateError, ValidationError
from ebr.execution.engine import pending_verification
from ebr.execution.models import RecordSignature
from signatures.models import Signature
from tests.integration.execution.conftest import SIMPLE, Floor, recipe, sig

PATH = "UP1.OP1.PH2"  # an instruction that needs [performed, verified]


def completed_unverified(floor: Floor, by: str = "olga") -> str:
    """A batch whose UP1.OP1.PH2 was completed (by olga) with its verification left for later."""
    ex = floor.execution
    number = floor.batch(recipe(SIMPLE))
    floor.work(ex.start_step, actor=by, ref=number, path="UP1.OP1.PH1")
    floor.work(ex.complete_step, actor=by, ref=number, path="UP1.OP1.PH1", signatures=[sig(by)])
    floor.work(ex.start_step, actor=by, ref=number, path=PATH)
    floor.work(ex.record, actor=by, ref=number, path=PATH, values={"confirmed": "yes"})
    outcome = floor.work(ex.complete_step, actor=by, ref=number, path=PATH, signatures=[sig(by)])
    assert outcome.completed
    assert "UP1.OP1.PH3:ready" in outcome.advanced
    return number


def step_signatures(floor: Floor, number: str, path: str) -> dict[str, str]:
    with floor.services.session_factory() as session:
        batch = floor.execution.batch(session, number)
        step = floor.execution.ctx.step(session, batch, path)
        return {s.meaning: s.signer for s in floor.execution.ctx.signatures_of(session, "batch_step", step.id)}


def signed_content(floor: Floor, number: str, path: str, meaning: str) -> dict[str, Any]:
    with floor.services.session_factory() as session:
        batch = floor.execution.batch(session, number)
        step = floor.execution.ctx.step(session, batch, path)
        link = session.scalars(
            select(RecordSignature).where(RecordSignature.subject_id == step.id, RecordSignature.meaning == meaning)
        ).one()
        content: dict[str, Any] = json.loads(session.get(Signature, link.signature_id).content)  # type: ignore[union-attr]
        return content


def events(floor: Floor, action: str) -> list[dict[str, Any]]:
    """The audit events of ``action``, oldest first, as recorded (canonical JSON)."""
    with floor.services.session_factory() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq))
        return [json.loads(row.canonical) for row in rows]


@pytest.mark.requirement("URS-BAT-008", "URS-SIG-003")
def test_a_step_completes_without_its_verification_and_a_supervisor_verifies_it_later(floor: Floor) -> None:
    number = completed_unverified(floor)
    step = floor.step(number, PATH)
    assert (step.state, pending_verification(step)) == ("Complete", {"confirmed": "yes"})
    assert step_signatures(floor, number, PATH) == {"performed": "olga"}
    completed = [e for e in events(floor, "batch.step.completed") if e["entity"]["id"] == f"{number}/{PATH}"]
    assert completed[-1]["after"]["verification"] == "pending"

    verified = floor.work(
        floor.execution.verify_step, actor="sam", ref=number, path=PATH, signature=sig("sam", "verified")
    )
    assert pending_verification(verified) is None
    assert step_signatures(floor, number, PATH) == {"performed": "olga", "verified": "sam"}
    performed, later = (signed_content(floor, number, PATH, m) for m in ("performed", "verified"))
    assert later.pop("meaning") == "verified"
    assert performed.pop("meaning") == "performed"
    assert later == performed
    assert later["entries"] == {"confirmed": "yes"}
    (event,) = events(floor, "batch.step.verified")
    assert (event["actor"], event["entity"]["id"]) == ("sam", f"{number}/{PATH}")
    assert (event["before"], event["after"]["signed_by"]) == ({"verification": "pending"}, "sam")


@pytest.mark.requirement("URS-BAT-008", "URS-SIG-004")
@pytest.mark.parametrize(
    ("performer", "actor", "signature", "error", "message"),
    [
        ("sue", "sue", sig("sue", "verified"), EbrError, "another person must sign"),
        ("olga", "sam", sig("sue", "verified"), ValidationError, "must be given by sam, who is signed in"),
        ("olga", "sam", sig("sam", "performed"), ValidationError, "meaning 'verified', not 'performed'"),
        ("olga", "otto", sig("otto", "verified"), EbrError, "'sign.verified' is not permitted"),
    ],
    ids=["the performer", "not the signed-in user", "wrong meaning", "an operator"],
)
def test_a_later_verification_is_refused_and_nothing_is_stored(
    floor: Floor, performer: str, actor: str, signature: Any, error: type[Exception], message: str
) -> None:
    number = completed_unverified(floor, by=performer)
    with pytest.raises(error, match=message):
        floor.work(floor.execution.verify_step, actor=actor, ref=number, path=PATH, signature=signature)
    assert pending_verification(floor.step(number, PATH)) == {"confirmed": "yes"}
    assert step_signatures(floor, number, PATH) == {"performed": performer}
    assert events(floor, "batch.step.verified") == []


@pytest.mark.requirement("URS-BAT-008")
def test_only_a_completed_step_with_a_pending_verification_is_verified_later(floor: Floor) -> None:
    ex = floor.execution
    number = completed_unverified(floor)
    verify = ex.verify_step
    with pytest.raises(ValidationError, match="does not need a 'verified' signature"):
        floor.work(verify, actor="sam", ref=number, path="UP1.OP1.PH1", signature=sig("sam", "verified"))
    floor.work(ex.start_step, actor="olga", ref=number, path="UP1.OP1.PH3")
    with pytest.raises(StateError, match="is Running; only a completed step is verified later"):
        floor.work(verify, actor="sam", ref=number, path="UP1.OP1.PH3", signature=sig("sam", "verified"))
    floor.work(verify, actor="sam", ref=number, path=PATH, signature=sig("sam", "verified"))
    with pytest.raises(StateError, match="already verified by sam"):
        floor.work(verify, actor="sue", ref=number, path=PATH, signature=sig("sue", "verified"))
    assert len(events(floor, "batch.step.verified")) == 1


@pytest.mark.requirement("URS-BAT-008")
def test_a_verification_given_at_completion_leaves_nothing_pending(floor: Floor) -> None:
    ex = floor.execution
    number = floor.batch(recipe(SIMPLE))
    floor.work(ex.start_step, actor="olga", ref=number, path="UP1.OP1.PH1")
    floor.work(ex.complete_step, actor="olga", ref=number, path="UP1.OP1.PH1", signatures=[sig("olga")])
    floor.work(ex.start_step, actor="olga", ref=number, path=PATH)
    floor.work(ex.complete_step, actor="olga", ref=number, path=PATH, signatures=[sig("olga"), sig("sam", "verified")])
    assert pending_verification(floor.step(number, PATH)) is None
    with pytest.raises(StateError, match="already verified by sam"):
        floor.work(ex.verify_step, actor="sue", ref=number, path=PATH, signature=sig("sue", "verified"))


@pytest.mark.requirement("URS-BAT-008")
def test_a_closed_batch_is_not_verified_any_more(floor: Floor) -> None:
    number = completed_unverified(floor)
    floor.work(floor.execution.command_batch, actor="sam", ref=number, command="abort", reason="contaminated",
        signature=sig("sam", "aborted"),
    )  # fmt: skip
    with pytest.raises(StateError, match="is aborted; its steps can no longer be verified"):
        floor.work(floor.execution.verify_step, actor="sam", ref=number, path=PATH, signature=sig("sam", "verified"))
    assert step_signatures(floor, number, PATH) == {"performed": "olga"}


@pytest.mark.requirement("URS-BAT-008")
def test_a_witness_still_signs_at_completion(floor: Floor) -> None:
    witnessed = copy.deepcopy(SIMPLE)
    witnessed["unit_procedures"][0]["operations"][0]["phases"][1]["signatures"] = ["performed", "witnessed"]
    ex = floor.execution
    number = floor.batch(recipe(witnessed))
    floor.work(ex.start_step, actor="olga", ref=number, path="UP1.OP1.PH1")
    floor.work(ex.complete_step, actor="olga", ref=number, path="UP1.OP1.PH1", signatures=[sig("olga")])
    floor.work(ex.start_step, actor="olga", ref=number, path=PATH)
    with pytest.raises(ValidationError, match="needs a 'witnessed' signature"):
        floor.work(ex.complete_step, actor="olga", ref=number, path=PATH, signatures=[sig("olga")])
    assert floor.step(number, PATH).state == "Running"


@pytest.mark.requirement("URS-BAT-008")
def test_the_batch_completes_with_verifications_pending(floor: Floor) -> None:
    ex = floor.execution
    number = completed_unverified(floor)
    floor.work(ex.start_step, actor="olga", ref=number, path="UP1.OP1.PH3")
    floor.work(
        ex.complete_step, actor="olga", ref=number, path="UP1.OP1.PH3", values={"value": "21"}, signatures=[sig("olga")]
    )
    for path, values in (("UP1.OP2.PH1", {"sample_id": "S-1"}), ("UP1.OP2.PH2", None), ("UP1.OP2.PH3", None)):
        floor.work(ex.start_step, actor="olga", ref=number, path=path)
        floor.work(ex.complete_step, actor="olga", ref=number, path=path, values=values, signatures=[sig("olga")])
    with floor.services.session_factory() as session:
        assert ex.batch(session, number).status == "complete"
    assert pending_verification(floor.step(number, "UP1.OP2.PH3")) == {}
    floor.work(ex.verify_step, actor="sue", ref=number, path="UP1.OP2.PH3", signature=sig("sue", "verified"))
    assert step_signatures(floor, number, "UP1.OP2.PH3") == {"performed": "olga", "verified": "sue"}
