"""Signed batch commands: stop and abort with reason and signature, hold with a reason, restart after an equipment hold.

Every refusal changes nothing: the batch stays in its state and no audit event is written.
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from audit.models import AuditEvent
from ebr.core.errors import StateError, ValidationError
from ebr.execution import commands, deviations
from ebr.execution.models import RecordSignature
from equipment.errors import CommandRefused
from recipes.states import TRANSITIONS, Command, State
from signatures.errors import NotPermitted
from tests.e2e.test_batch_crash import RECIPE as DOSING
from tests.integration.execution.conftest import SIMPLE, Floor, recipe, sig


def events(floor: Floor) -> int:
    with floor.services.session_factory() as session:
        return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def batch_state(floor: Floor, number: str) -> tuple[str, str]:
    with floor.services.session_factory() as session:
        batch = floor.execution.batch(session, number)
        return batch.status, batch.state


def command(floor: Floor, number: str, name: str, **kwargs: Any) -> Any:
    return floor.work(floor.execution.command_batch, actor="sam", ref=number, command=name, **kwargs)


@pytest.mark.requirement("URS-BAT-009")
def test_stop_needs_a_reason_and_the_commanders_own_signature_meaning_stopped(floor: Floor) -> None:
    number = floor.batch(recipe(SIMPLE))
    before = events(floor)
    refusals: list[tuple[dict[str, Any], str]] = [
        ({"signature": sig("sam", "stopped")}, "a reason is required to stop batch"),
        ({"reason": "leak"}, "sign with your user id and password (meaning 'stopped')"),
        ({"reason": "leak", "signature": sig("sam", "verified")}, "meaning must be 'stopped'"),
        ({"reason": "leak", "signature": sig("sue", "stopped")}, "the person who gives the stop signs it: sign as sam"),
    ]
    for kwargs, message in refusals:
        with pytest.raises(ValidationError, match=re.escape(message)):
            command(floor, number, "stop", **kwargs)
    assert batch_state(floor, number) == ("in_execution", "Running")
    assert events(floor) == before
    command(floor, number, "stop", reason="jacket leaking", signature=sig("sam", "stopped"))
    assert batch_state(floor, number) == ("complete", "Stopped")
    with floor.services.session_factory() as session:
        signed = session.scalars(select(RecordSignature).where(RecordSignature.subject_id == number)).one()
        assert (signed.meaning, signed.signer, signed.subject_type) == ("stopped", "sam", "batch")
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "batch.command.stop")).one()
        assert (event.actor, event.reason) == ("sam", "jacket leaking")
    with pytest.raises(StateError, match="commands apply only to a batch in execution"):
        command(floor, number, "abort", reason="again", signature=sig("sam", "aborted"))


@pytest.mark.requirement("URS-BAT-009")
def test_an_operator_cannot_sign_an_abort(floor: Floor) -> None:
    number = floor.batch(recipe(SIMPLE))
    with pytest.raises(NotPermitted):
        floor.work(
            floor.execution.command_batch, actor="olga", ref=number, command="abort", reason="x",
            signature=sig("olga", "aborted"),
        )  # fmt: skip
    assert batch_state(floor, number) == ("in_execution", "Running")


@pytest.mark.requirement("URS-BAT-009")
def test_hold_needs_a_reason_and_is_refused_while_held(floor: Floor) -> None:
    number = floor.batch(recipe(SIMPLE))
    with pytest.raises(ValidationError, match="a reason is required to hold batch"):
        command(floor, number, "hold", reason="  ")
    command(floor, number, "hold", reason="power dip")
    with pytest.raises(StateError, match="Hold is not allowed in state Held"):
        command(floor, number, "hold", reason="again")
    command(floor, number, "restart")
    assert batch_state(floor, number) == ("in_execution", "Running")


@pytest.mark.requirement("URS-BAT-009")
def test_a_phase_held_by_the_equipment_restarts_only_with_a_supervisors_signature(floor: Floor) -> None:
    ex = floor.execution
    number = floor.batch(recipe(DOSING), size="100")
    for path in ("UP1.OP1.PH1", "UP1.OP1.PH2"):
        floor.work(ex.start_step, actor="olga", ref=number, path=path)
        if path == "UP1.OP1.PH1":
            floor.work(ex.complete_step, actor="olga", ref=number, path=path, signatures=[sig("olga")])
    floor.work(ex.recover)  # no runtime reports the dosing: nobody knows what the plant does → Held
    step = floor.step(number, "UP1.OP1.PH2")
    assert (step.state, step.data["held_by"]) == ("Held", "equipment")
    assert commands.needs_restart_signature(step)
    with floor.services.session_factory() as session:
        dev = deviations.for_batch(session, ex.batch(session, number))[0].number
    floor.work(ex.handle_deviation, actor="sam", ref=dev, comment="runtime checked", signature=sig("sam", "verified"))

    def restart(**kwargs: Any) -> Any:
        return floor.work(ex.command_phase, actor="sam", ref=number, path="UP1.OP1.PH2", command="restart", **kwargs)

    with pytest.raises(ValidationError, match="meaning 'restarted'"):
        restart()
    with pytest.raises(NotPermitted):
        restart(signature=sig("olga", "restarted"))
    assert floor.step(number, "UP1.OP1.PH2").state == "Held"
    # A supervisor's signature passes every check of ours and reaches the runtime's command table;
    # no runtime ever took this dosing, so the plant side refuses and nothing is kept (a live runtime
    # restarts it in tests/e2e/test_batch_trip.py).
    with pytest.raises(CommandRefused, match="restart is allowed only when held"):
        restart(signature=sig("sue", "restarted"))
    assert floor.step(number, "UP1.OP1.PH2").state == "Held"


def test_the_offered_commands_are_exactly_those_the_isa88_table_allows() -> None:
    for state in State:
        step: Any = SimpleNamespace(state=state.value, data={})
        assert commands.allowed_phase_commands(step) == [c for c in commands.OFFERED if (state, c) in TRANSITIONS]
        batch: Any = SimpleNamespace(state=state.value, status="in_execution")
        assert commands.allowed_batch_commands(batch) == [c for c in commands.OFFERED if (state, c) in TRANSITIONS]
    held: Any = SimpleNamespace(state="Held", status="in_execution")
    assert commands.allowed_batch_commands(held) == [Command.RESTART, Command.STOP, Command.ABORT]
    assert commands.allowed_batch_commands(SimpleNamespace(state="Running", status="complete")) == []  # type: ignore[arg-type]


@pytest.mark.requirement("URS-BAT-009")
def test_blank_reasons_never_stop_a_batch(floor: Floor) -> None:
    number = floor.batch(recipe(SIMPLE))
    before = events(floor)

    @settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(reason=st.none() | st.text(alphabet=" \t\r\n\u00a0", max_size=6), name=st.sampled_from(["stop", "abort"]))
    def attempt(reason: str | None, name: str) -> None:
        meaning = commands.SIGNED_MEANING[Command(name.capitalize())]
        with pytest.raises(ValidationError, match="a reason is required"):
            command(floor, number, name, reason=reason, signature=sig("sam", meaning))

    attempt()
    assert batch_state(floor, number) == ("in_execution", "Running")
    assert events(floor) == before
    with floor.services.session_factory() as session:
        ending = select(func.count()).where(RecordSignature.meaning.in_(("stopped", "aborted")))
        assert session.scalar(ending) == 0
