"""A batch of manual phases runs step by step, in sequence, with signatures, deviations and corrections."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from audit.models import AuditEvent
from ebr.core.errors import Conflict, StateError, ValidationError
from ebr.execution.models import StepEntry
from tests.integration.execution.conftest import SIMPLE, Floor, recipe, sig


def run_prepare(floor: Floor, number: str) -> None:
    ex = floor.execution
    floor.work(ex.start_step, actor="olga", ref=number, path="UP1.OP1.PH1")
    floor.work(ex.complete_step, actor="olga", ref=number, path="UP1.OP1.PH1", signatures=[sig("olga")])
    floor.work(ex.start_step, actor="olga", ref=number, path="UP1.OP1.PH2")
    floor.work(
        ex.complete_step,
        actor="olga",
        ref=number,
        path="UP1.OP1.PH2",
        signatures=[sig("olga"), sig("sam", "verified")],
    )


@pytest.mark.requirement("URS-BAT-002")
def test_a_manual_batch_runs_to_completion_and_makes_an_output_lot(floor: Floor) -> None:
    ex = floor.execution
    number = floor.batch(recipe(SIMPLE))
    run_prepare(floor, number)
    floor.work(ex.start_step, actor="olga", ref=number, path="UP1.OP1.PH3")
    outcome = floor.work(
        ex.complete_step,
        actor="olga",
        ref=number,
        path="UP1.OP1.PH3",
        values={"value": "21.5"},
        signatures=[sig("olga")],
    )
    assert outcome.completed
    for path, values in (("UP1.OP2.PH1", {"sample_id": "S-1"}), ("UP1.OP2.PH2", None)):
        floor.work(ex.start_step, actor="olga", ref=number, path=path)
        floor.work(ex.complete_step, actor="olga", ref=number, path=path, values=values, signatures=[sig("olga")])
    floor.work(ex.start_step, actor="olga", ref=number, path="UP1.OP2.PH3")
    floor.work(
        ex.complete_step,
        actor="olga",
        ref=number,
        path="UP1.OP2.PH3",
        signatures=[sig("olga"), sig("sue", "verified")],
    )
    with floor.services.session_factory() as session:
        batch = ex.batch(session, number)
        assert (batch.status, batch.state) == ("complete", "Complete")
        result = session.scalars(select(StepEntry).where(StepEntry.name == "result")).one()
        assert result.value == "43.0"
        lot = ex.materials.lot(session, number)
        assert (lot.status, lot.produced_by) == ("quarantine", batch.id)
        actions = set(session.scalars(select(AuditEvent.action)))
        assert {"batch.created", "batch.step.completed", "batch.completed", "signature.applied"} <= actions


@pytest.mark.requirement("URS-BAT-002")
def test_a_step_out_of_sequence_is_refused_and_names_what_it_waits_for(floor: Floor) -> None:
    number = floor.batch(recipe(SIMPLE))
    with pytest.raises(StateError, match=r"out of sequence: it waits for UP1\.OP1\.PH1"):
        floor.work(floor.execution.start_step, actor="olga", ref=number, path="UP1.OP1.PH2")


@pytest.mark.requirement("URS-BAT-008", "URS-SIG-004")
def test_the_verifier_must_be_another_person_than_the_performer(floor: Floor) -> None:
    ex = floor.execution
    number = floor.batch(recipe(SIMPLE))
    floor.work(ex.start_step, actor="olga", ref=number, path="UP1.OP1.PH1")
    floor.work(ex.complete_step, actor="olga", ref=number, path="UP1.OP1.PH1", signatures=[sig("olga")])
    floor.work(ex.start_step, actor="sam", ref=number, path="UP1.OP1.PH2")
    with pytest.raises(Exception, match="another person must sign"):
        floor.work(
            ex.complete_step,
            actor="sam",
            ref=number,
            path="UP1.OP1.PH2",
            signatures=[sig("sam"), sig("sam", "verified")],
        )
    assert floor.step(number, "UP1.OP1.PH2").state == "Running"


@pytest.mark.requirement("URS-BAT-003")
def test_an_out_of_limit_value_opens_a_deviation_that_blocks_the_step_until_a_supervisor_signs(
    floor: Floor,
) -> None:
    ex = floor.execution
    number = floor.batch(recipe(SIMPLE))
    run_prepare(floor, number)
    floor.work(ex.start_step, actor="olga", ref=number, path="UP1.OP1.PH3")
    outcome = floor.work(
        ex.complete_step,
        actor="olga",
        ref=number,
        path="UP1.OP1.PH3",
        values={"value": "42"},
        signatures=[sig("olga")],
    )
    assert not outcome.completed
    assert outcome.blocked_by
    deviation = outcome.blocked_by[0]
    with pytest.raises(StateError, match="needs a comment and a supervisor"):
        floor.work(ex.complete_step, actor="olga", ref=number, path="UP1.OP1.PH3", signatures=[sig("olga")])
    floor.work(
        ex.handle_deviation,
        actor="sam",
        ref=deviation,
        comment="probe read in the sun; product not affected",
        signature=sig("sam", "verified"),
    )
    done = floor.work(ex.complete_step, actor="olga", ref=number, path="UP1.OP1.PH3", signatures=[sig("olga")])
    assert done.completed


@pytest.mark.requirement("URS-SYS-006")
def test_a_non_numeric_entry_is_refused_and_nothing_is_recorded(floor: Floor) -> None:
    ex = floor.execution
    number = floor.batch(recipe(SIMPLE))
    run_prepare(floor, number)
    floor.work(ex.start_step, actor="olga", ref=number, path="UP1.OP1.PH3")
    with pytest.raises(ValidationError, match="'abc' is not a number"):
        floor.work(ex.record, actor="olga", ref=number, path="UP1.OP1.PH3", values={"value": "abc"})
    with floor.services.session_factory() as session:
        assert session.scalars(select(StepEntry).where(StepEntry.name == "value")).all() == []


@pytest.mark.requirement("URS-BAT-005")
def test_a_correction_keeps_the_original_value_and_needs_a_reason_and_signature(floor: Floor) -> None:
    ex = floor.execution
    number = floor.batch(recipe(SIMPLE))
    run_prepare(floor, number)
    floor.work(ex.start_step, actor="olga", ref=number, path="UP1.OP1.PH3")
    recorded = floor.work(ex.record, actor="olga", ref=number, path="UP1.OP1.PH3", values={"value": "21.5"})
    entry_id = recorded.entries[0].id
    with pytest.raises(ValidationError, match="needs a reason"):
        floor.work(ex.correct_entry, actor="olga", entry_id=entry_id, value="22.5", reason=" ", signature=sig("olga"))
    with pytest.raises(ValidationError, match="signed by the person who makes it: sign as olga"):
        floor.work(ex.correct_entry, actor="olga", entry_id=entry_id, value="22.5", reason="typo", signature=sig("sam"))
    new, deviation = floor.work(
        ex.correct_entry,
        actor="olga",
        entry_id=entry_id,
        value="22.5",
        reason="typo: read 22.5 on the display",
        signature=sig("olga"),
    )
    assert deviation is None
    with floor.services.session_factory() as session:
        old = session.get(StepEntry, entry_id)
        assert old is not None
        assert old.value == "21.5"
        assert old.superseded_at is not None
        fresh = session.get(StepEntry, new.id)
        assert fresh is not None
        assert (fresh.value, fresh.corrects) == ("22.5", entry_id)


@pytest.mark.requirement("URS-BAT-007")
def test_a_stale_version_is_refused_with_a_conflict(floor: Floor) -> None:
    ex = floor.execution
    number = floor.batch(recipe(SIMPLE))
    seen = floor.step(number, "UP1.OP1.PH1").version
    floor.work(ex.start_step, actor="olga", ref=number, path="UP1.OP1.PH1", version=seen)
    with pytest.raises(Conflict, match="changed by olga while you were working on it"):
        floor.work(
            ex.complete_step, actor="otto", ref=number, path="UP1.OP1.PH1", version=seen, signatures=[sig("otto")]
        )


def test_holding_the_batch_holds_its_running_phase_and_restart_resumes_it(floor: Floor) -> None:
    ex = floor.execution
    number = floor.batch(recipe(SIMPLE))
    floor.work(ex.start_step, actor="olga", ref=number, path="UP1.OP1.PH1")
    floor.work(ex.command_batch, actor="sam", ref=number, command="hold", reason="power dip")
    assert floor.step(number, "UP1.OP1.PH1").state == "Held"
    with pytest.raises(StateError, match="Running"):
        floor.work(ex.complete_step, actor="olga", ref=number, path="UP1.OP1.PH1", signatures=[sig("olga")])
    with pytest.raises(StateError, match="Hold is not allowed in state Held"):
        floor.work(ex.command_batch, actor="sam", ref=number, command="hold")
    floor.work(ex.command_batch, actor="sam", ref=number, command="restart")
    assert floor.step(number, "UP1.OP1.PH1").state == "Running"
