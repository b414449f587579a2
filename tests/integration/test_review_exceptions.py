"""Review by exception that misses nothing: one batch per exception type, each shown and blocking release.

Every batch runs the SIMPLE recipe through the services with one departure from the
prescribed path. QA must see the departure on the review, release must be refused
until QA has given it a disposition (a comment), and then allowed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from audit.models import AuditEvent
from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.core.errors import StateError, ValidationError
from ebr.execution import deviations
from ebr.execution import review as review_items
from ebr.execution.models import ReviewDisposition
from ebr.execution.service import Execution, build
from ebr.materials.services import Credentials
from ebr.review import services as release
from equipment.models import Alarm
from tests.integration.execution.conftest import PASSWORD, SIMPLE, make_people, make_plant, recipe

PATHS = ("UP1.OP1.PH1", "UP1.OP1.PH2", "UP1.OP1.PH3", "UP1.OP2.PH1", "UP1.OP2.PH2", "UP1.OP2.PH3")


def sig(user: str, meaning: str = "performed") -> Credentials:
    return Credentials(user_id=user, password=PASSWORD, meaning=meaning)


class Run:
    """A SIMPLE batch executed step by step, with hooks to depart from the prescribed path."""

    def __init__(self, services: Services, order: str) -> None:
        self.services = services
        self.ex: Execution = build(services)
        self.number: str = self.work(
            lambda session: (
                self.ex.create_from_recipe(
                    session, actor="sam", master=recipe(SIMPLE), version="1", size="100", order=order
                ).number
            )
        )
        self.work(self.ex.release_to_floor, actor="sam", ref=self.number)
        self.work(self.ex.start_batch, actor="olga", ref=self.number)

    def work(self, fn: Callable[..., Any], /, **kwargs: Any) -> Any:
        with unit_of_work(self.services.session_factory) as session:
            return fn(session, **kwargs)

    def step(self, path: str, *, temperature: str = "21", verify_later: bool = False) -> Any:
        values = {"UP1.OP1.PH3": {"value": temperature}, "UP1.OP2.PH1": {"sample_id": "S-1"}}.get(path)
        signers = [sig("olga")]
        if path == "UP1.OP2.PH3" or (path == "UP1.OP1.PH2" and not verify_later):
            signers.append(sig("sue", "verified"))
        self.work(self.ex.start_step, actor="olga", ref=self.number, path=path)
        return self.work(
            self.ex.complete_step, actor="olga", ref=self.number, path=path, values=values, signatures=signers
        )

    def run(self, paths: tuple[str, ...] = PATHS, **kwargs: Any) -> str:
        for path in paths:
            self.step(path, **kwargs)
        return self.number


def stopped(run: Run) -> str:
    run.step("UP1.OP1.PH1")
    run.work(run.ex.command_batch, actor="sam", ref=run.number, command="stop", reason="reactor jacket leaking",
        signature=sig("sam", "stopped"),
    )  # fmt: skip
    return run.number


def held_and_restarted(run: Run) -> str:
    run.step("UP1.OP1.PH1")
    run.work(run.ex.command_batch, actor="sam", ref=run.number, command="hold", reason="waiting for maintenance")
    run.work(run.ex.command_batch, actor="sam", ref=run.number, command="restart", reason="maintenance done")
    return run.run(PATHS[1:])


def interlock_trip(run: Run) -> str:
    run.step("UP1.OP1.PH1")
    with unit_of_work(run.services.session_factory) as session:
        batch = run.ex.batch(session, run.number)
        session.add(
            Alarm(
                at=run.services.clock.now(), unit="R-101", phase_ref=f"{batch.id}:UP1.OP1.PH2", condition="high_high",
                tag="R-101.level", value="812.5", message="level high-high: dosing stopped",
            )
        )  # fmt: skip
    return run.run(PATHS[1:])


def out_of_limits(run: Run) -> str:
    run.run(PATHS[:2])
    run.step("UP1.OP1.PH3", temperature="35")  # opens a deviation; the step waits for it
    with run.services.session_factory() as session:
        dev = deviations.for_batch(session, run.ex.batch(session, run.number))[0].number
    run.work(run.ex.handle_deviation, actor="sam", ref=dev, comment="Room warm.", signature=sig("sam", "verified"))
    run.work(run.ex.complete_step, actor="olga", ref=run.number, path="UP1.OP1.PH3", signatures=[sig("olga")])
    return run.run(PATHS[3:])


def corrected(run: Run) -> str:
    run.run(PATHS[:3])
    with run.services.session_factory() as session:
        step = run.ex.ctx.step(session, run.ex.batch(session, run.number), "UP1.OP1.PH3")
        from ebr.execution.models import StepEntry

        entry_id = session.scalars(select(StepEntry.id).where(StepEntry.step_id == step.id)).one()
    run.work(
        run.ex.correct_entry, actor="olga", entry_id=entry_id, value="22", reason="misread the display",
        signature=sig("olga"),
    )  # fmt: skip
    return run.run(PATHS[3:])


def manual_deviation(run: Run) -> str:
    run.run()
    dev = run.work(
        run.ex.open_deviation, actor="sam", ref=run.number, path=None, severity="minor", description="label smudged"
    )
    run.work(
        run.ex.handle_deviation, actor="sue", ref=dev.number, comment="Relabelled.", signature=sig("sue", "verified")
    )
    return run.number


def verification_pending(run: Run) -> str:
    run.step("UP1.OP1.PH1")
    run.step("UP1.OP1.PH2", verify_later=True)
    return run.run(PATHS[2:])


CASES: dict[str, tuple[Callable[[Run], str], set[str]]] = {
    "stopped batch": (stopped, {"batch not complete", "incomplete steps", "manual command"}),
    "hold and restart": (held_and_restarted, {"manual command"}),
    "interlock trip": (interlock_trip, {"interlock trip"}),
    "out-of-limit value": (out_of_limits, {"out of limits", "deviation"}),
    "correction": (corrected, {"correction"}),
    "manual deviation": (manual_deviation, {"deviation"}),
    "verification pending": (verification_pending, {"verification pending"}),
}


@pytest.fixture
def qa_floor(services: Services) -> Services:
    make_people(services)
    make_plant(services, {"R-101": "unit"})
    return services


def decide(services: Services, number: str, user: str, decision: str, **kwargs: Any) -> Any:
    with unit_of_work(services.session_factory) as session:
        return release.decide(
            session, build(services).ctx, actor=user, ref=number, decision=decision,
            signature=sig(user, decision), **kwargs,
        )  # fmt: skip


def items(services: Services, number: str) -> list[review_items.ReviewItem]:
    with services.session_factory() as session:
        return review_items.exceptions(session, build(services).batch(session, number))


def dispose_all(services: Services, number: str, user: str = "quinn") -> None:
    for item in items(services, number):
        if item.disposition is None:
            with unit_of_work(services.session_factory) as session:
                release.disposition(
                    session, build(services).ctx, actor=user, ref=number, key=item.key, comment=f"{item.kind}: accepted"
                )


@pytest.mark.requirement("URS-QA-001", "URS-QA-004")
@pytest.mark.parametrize("case", list(CASES))
def test_each_exception_appears_and_blocks_release_until_qa_dispositions_it(qa_floor: Services, case: str) -> None:
    build_batch, kinds = CASES[case]
    number = build_batch(Run(qa_floor, order=f"PO-{case}"))
    found = items(qa_floor, number)
    assert kinds <= {item.kind for item in found}, found
    decide(qa_floor, number, "quinn", "reviewed")
    with pytest.raises(ValidationError) as refused:
        decide(qa_floor, number, "queenie", "released", comment="ok", confirm=number)
    for kind in kinds - {"verification pending"}:
        assert any(f"{kind} (" in problem and "no QA disposition" in problem for problem in refused.value.problems)
    if "verification pending" in kinds:
        assert any("waits for verification" in problem for problem in refused.value.problems)
    dispose_all(qa_floor, number)
    assert all(item.disposition is not None for item in items(qa_floor, number))
    if case == "stopped batch":
        return  # released only by a decision that names it: the next test
    if case == "verification pending":
        with pytest.raises(ValidationError, match="cannot be released"):
            decide(qa_floor, number, "queenie", "released")  # no comment replaces the signature
        with unit_of_work(qa_floor.session_factory) as session:
            build(qa_floor).verify_step(
                session, actor="sue", ref=number, path="UP1.OP1.PH2", signature=sig("sue", "verified")
            )
    assert decide(qa_floor, number, "queenie", "released").status == "released"


@pytest.mark.requirement("URS-QA-001", "URS-QA-004")
def test_a_stopped_batch_is_released_only_by_a_signed_decision_that_names_it(qa_floor: Services) -> None:
    number = stopped(Run(qa_floor, order="PO-STOP"))
    decide(qa_floor, number, "quinn", "reviewed")
    dispose_all(qa_floor, number)
    with pytest.raises(ValidationError) as refused:
        decide(qa_floor, number, "queenie", "released")
    assert refused.value.problems == [
        f"type the batch number {number} to confirm releasing a batch that ended Stopped",
        "give the justification for releasing a batch that ended Stopped",
    ]
    with pytest.raises(ValidationError):
        decide(qa_floor, number, "queenie", "released", comment="salvaged", confirm="B-other")
    batch = decide(qa_floor, number, "queenie", "released", comment="contents salvaged, assay OK", confirm=number)
    assert (batch.status, batch.state) == ("released", "Stopped")
    with qa_floor.session_factory() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "batch.released", AuditEvent.entity_id == number)
        ).one()
        assert json.loads(event.canonical)["after"]["state"] == "Stopped"


@pytest.mark.requirement("URS-QA-001", "URS-QA-004")
def test_an_aborted_batch_can_only_be_rejected(qa_floor: Services) -> None:
    run = Run(qa_floor, order="PO-ABORT")
    run.step("UP1.OP1.PH1")
    run.work(run.ex.command_batch, actor="sam", ref=run.number, command="abort", reason="contaminated",
        signature=sig("sam", "aborted"),
    )  # fmt: skip
    with pytest.raises(StateError, match="only when complete"):
        decide(qa_floor, run.number, "quinn", "reviewed")
    assert {"batch not complete", "manual command"} <= {item.kind for item in items(qa_floor, run.number)}
    assert decide(qa_floor, run.number, "quinn", "rejected", comment="aborted: contaminated").status == "rejected"


@pytest.mark.requirement("URS-QA-004")
def test_a_disposition_is_refused_without_a_comment_twice_or_from_a_participant(qa_floor: Services) -> None:
    number = stopped(Run(qa_floor, order="PO-DISP"))
    key = items(qa_floor, number)[0].key
    ctx = build(qa_floor).ctx

    def dispose(user: str, comment: str, item: str = key) -> None:
        with unit_of_work(qa_floor.session_factory) as session:
            release.disposition(session, ctx, actor=user, ref=number, key=item, comment=comment)

    with pytest.raises(ValidationError, match="needs a comment"):
        dispose("quinn", "  ")
    with pytest.raises(ValidationError, match="has no exception"):
        dispose("quinn", "fine", "alarm:999")
    with pytest.raises(StateError, match="took part"):
        dispose("sam", "fine")
    dispose("quinn", "accepted")
    with pytest.raises(StateError, match="dispositioned by quinn already"):
        dispose("queenie", "again")
    with qa_floor.session_factory() as session:
        events = session.scalar(
            select(func.count()).where(
                AuditEvent.action == "batch.exception.dispositioned", AuditEvent.entity_id == number
            )
        )
        rows = session.scalar(select(func.count()).select_from(ReviewDisposition))
    assert (events, rows) == (1, 1)


@pytest.mark.requirement("URS-QA-004")
def test_blank_or_unknown_dispositions_store_nothing(qa_floor: Services) -> None:
    number = stopped(Run(qa_floor, order="PO-FUZZ"))
    ctx = build(qa_floor).ctx
    known = {item.key for item in items(qa_floor, number)}

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(key=st.text(max_size=40), comment=st.text(alphabet=" \t\n\r", max_size=5) | st.text(max_size=30))
    def attempt(key: str, comment: str) -> None:
        if key in known and comment.strip():
            return
        with pytest.raises(ValidationError), unit_of_work(qa_floor.session_factory) as session:
            release.disposition(session, ctx, actor="quinn", ref=number, key=key, comment=comment)

    attempt()
    with qa_floor.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(ReviewDisposition)) == 0
