"""Timed holds against the clock, deviations by severity, equipment marked in use and dirty."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from ebr.bootstrap import Services, build_services
from ebr.core.clock import FixedClock
from ebr.core.config import Settings
from ebr.core.errors import StateError
from ebr.execution.service import build
from signatures.errors import SegregationOfDuties
from tests.integration.execution.conftest import SIMPLE, Floor, make_people, make_plant, recipe, sig

HOLD: dict[str, Any] = {
    "name": "HOLD",
    "title": "A timed hold",
    "product": {"code": "FG-H", "name": "Held"},
    "batch_size": {"nominal": 10, "min": 5, "max": 20, "unit": "kg"},
    "unit_procedures": [
        {
            "id": "UP1",
            "name": "Mix",
            "equipment": {"unit_class": "reactor", "unit": "R-101"},
            "operations": [
                {"id": "OP1", "name": "Mix", "phases": [
                    {"id": "PH1", "name": "Mix", "type": "timed_hold", "min_duration": 30, "max_duration": 40,
                     "unit": "min"},
                ]},
            ],
        }
    ],
}  # fmt: skip


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(dt.datetime.now(dt.UTC))


@pytest.fixture
def timed_floor(settings: Settings, clock: FixedClock) -> Iterator[Floor]:
    built: Services = build_services(settings, clock=clock)
    make_people(built)
    make_plant(built, {"R-101": "unit"})
    yield Floor(built, build(built))
    built.close()


def _hold(floor: Floor) -> str:
    number = floor.batch(recipe(HOLD))
    floor.work(floor.execution.start_step, actor="olga", ref=number, path="UP1.OP1.PH1")
    return number


def _complete(floor: Floor, number: str) -> Any:
    return floor.work(floor.execution.complete_step, actor="olga", ref=number, path="UP1.OP1.PH1",
                      signatures=[sig("olga")])  # fmt: skip


def test_completing_a_timed_hold_early_is_refused(timed_floor: Floor, clock: FixedClock) -> None:
    number = _hold(timed_floor)
    clock.advance(minutes=29)
    with pytest.raises(StateError, match="completing early is refused, wait 60 s more"):
        _complete(timed_floor, number)
    clock.advance(minutes=2)
    assert _complete(timed_floor, number).completed


@pytest.mark.requirement("URS-BAT-003")
def test_a_hold_past_its_maximum_opens_one_deviation_that_must_be_signed_before_it_completes(
    timed_floor: Floor, clock: FixedClock
) -> None:
    ex = timed_floor.execution
    number = _hold(timed_floor)
    clock.advance(minutes=41)
    timed_floor.work(ex.sync, ref=number)
    timed_floor.work(ex.sync, ref=number)
    with timed_floor.services.session_factory() as session:
        from ebr.execution import deviations

        found = deviations.for_batch(session, ex.batch(session, number))
    assert [(d.kind, d.severity) for d in found] == [("time_exceeded", "minor")]
    clock.advance(minutes=10)  # sessions and signatures still work: the clock moves for everyone
    with pytest.raises(StateError, match="needs a comment and a supervisor's verified signature"):
        _complete(timed_floor, number)
    timed_floor.work(ex.handle_deviation, actor="sam", ref=found[0].number, comment="mixer ran longer, no impact",
                     signature=sig("sam", "verified"))  # fmt: skip
    outcome = _complete(timed_floor, number)
    assert outcome.completed
    elapsed = next(e for e in outcome.entries if e.name == "elapsed")
    assert elapsed.in_limits is False


@pytest.mark.requirement("URS-BAT-003", "URS-SIG-004")
def test_a_major_deviation_needs_a_supervisor_and_a_qa_signature_and_never_the_opener(floor: Floor) -> None:
    ex = floor.execution
    number = floor.batch(recipe(SIMPLE))
    dev = floor.work(ex.open_deviation, actor="sam", ref=number, path="UP1.OP1.PH1", severity="major",
                     description="spill near the reactor")  # fmt: skip
    with pytest.raises(SegregationOfDuties, match="opened this deviation"):
        floor.work(
            ex.handle_deviation, actor="sam", ref=dev.number, comment="cleaned", signature=sig("sam", "verified")
        )
    floor.work(ex.handle_deviation, actor="sue", ref=dev.number, comment="cleaned up", signature=sig("sue", "verified"),
               investigation_ref="INV-12")  # fmt: skip
    floor.work(ex.handle_deviation, actor="quinn", ref=dev.number, comment="assessed: no impact",
               signature=sig("quinn", "reviewed"))  # fmt: skip
    with floor.services.session_factory() as session:
        from ebr.execution import deviations

        closed = deviations.get(session, ex.ctx, dev.number)
        assert (closed.status, closed.investigation_ref) == ("closed", "INV-12")
        assert "cleaned up" in closed.comment
        assert "no impact" in closed.comment


@pytest.mark.requirement("URS-EQP-001")
def test_an_equipment_check_marks_the_unit_in_use_and_the_end_of_its_unit_procedure_marks_it_dirty(
    floor: Floor,
) -> None:
    ex = floor.execution
    number = floor.batch(recipe(SIMPLE))
    floor.work(ex.start_step, actor="olga", ref=number, path="UP1.OP1.PH1")
    floor.work(ex.complete_step, actor="olga", ref=number, path="UP1.OP1.PH1", signatures=[sig("olga")])
    with floor.services.session_factory() as session:
        assert floor.services.equipment.get(session, "R-101").status == "in_use"
    steps = [
        ("UP1.OP1.PH2", None, True), ("UP1.OP1.PH3", {"value": "20"}, False),
        ("UP1.OP2.PH1", {"sample_id": "S"}, False), ("UP1.OP2.PH2", None, False), ("UP1.OP2.PH3", None, True),
    ]  # fmt: skip
    for path, values, verified in steps:
        floor.work(ex.start_step, actor="olga", ref=number, path=path)
        signatures = [sig("olga"), sig("sam", "verified")] if verified else [sig("olga")]
        floor.work(ex.complete_step, actor="olga", ref=number, path=path, values=values, signatures=signatures)
    with floor.services.session_factory() as session:
        assert floor.services.equipment.get(session, "R-101").status == "dirty"
