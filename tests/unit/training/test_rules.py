"""The pure qualification rules: which requirements apply to a step and what a person lacks."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ebr.training.rules import Held, Need, RequirementKind, Standing, applicable, expiry, gaps, standing

UTC = dt.UTC
NOW = dt.datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
TODAY = NOW.date()
DOSING = Need("Dosing R-101", RequirementKind.PHASE_TYPE, "dosing", "R-101")


def test_a_phase_type_requirement_on_a_unit_applies_only_to_steps_on_that_unit() -> None:
    needs = [
        DOSING,
        Need("GMP basics", RequirementKind.RECIPE, "SIMPLE"),
        Need("Scale", RequirementKind.EQUIPMENT, "SC-01"),
    ]
    assert applicable(needs, phase_type="dosing", recipe="OTHER", units=["R-101"]) == [DOSING]
    assert applicable(needs, phase_type="dosing", recipe="OTHER", units=["R-102"]) == []
    found = applicable(needs, phase_type="weigh_dispense", recipe="SIMPLE", units=["R-101", "SC-01"])
    assert [n.curriculum for n in found] == ["GMP basics", "Scale"]


@pytest.mark.requirement("URS-TRN-002")
def test_the_refusal_names_the_person_the_step_and_the_missing_or_expired_curriculum() -> None:
    assert gaps("jdoe", [DOSING], [], at=NOW, today=TODAY) == [
        "jdoe is not qualified for phase type dose on R-101: curriculum 'Dosing R-101' missing".replace(
            "dose", "dosing"
        )
    ]
    old = Held("Dosing R-101", NOW - dt.timedelta(days=400), dt.date(2026, 11, 30))
    assert gaps("jdoe", [DOSING], [old], at=NOW, today=TODAY) == [
        "jdoe is not qualified for phase type dosing on R-101: curriculum 'Dosing R-101' expired on 2026-11-30"
    ]
    fresh = Held("Dosing R-101", NOW - dt.timedelta(days=1), dt.date(2027, 11, 30))
    assert gaps("jdoe", [DOSING], [old, fresh], at=NOW, today=TODAY) == []


@pytest.mark.requirement("URS-TRN-003")
def test_a_training_counts_only_from_its_signature_and_not_on_its_expiry_day() -> None:
    signed_later = Held("Dosing R-101", NOW + dt.timedelta(minutes=1), None)
    assert standing("Dosing R-101", [signed_later], at=NOW, today=TODAY).standing is Standing.MISSING
    ends_today = Held("Dosing R-101", NOW - dt.timedelta(days=30), TODAY)
    assert standing("Dosing R-101", [ends_today], at=NOW, today=TODAY).standing is Standing.EXPIRED


def test_the_expiry_defaults_to_the_validity_and_may_only_be_shorter() -> None:
    assert expiry(dt.date(2026, 1, 1), 365, None, curriculum="C") == dt.date(2027, 1, 1)
    assert expiry(dt.date(2026, 1, 1), None, None, curriculum="C") is None
    assert expiry(dt.date(2026, 1, 1), 365, dt.date(2026, 6, 1), curriculum="C") == dt.date(2026, 6, 1)
    with pytest.raises(ValueError, match="later than curriculum 'C' allows"):
        expiry(dt.date(2026, 1, 1), 365, dt.date(2027, 6, 1), curriculum="C")
    with pytest.raises(ValueError, match="must be after the training date"):
        expiry(dt.date(2026, 1, 1), None, dt.date(2026, 1, 1), curriculum="C")


@given(signed=st.lists(st.tuples(st.integers(-1000, 1000), st.one_of(st.none(), st.integers(-1000, 1000))), max_size=6))
def test_a_person_is_qualified_exactly_when_some_signed_record_has_not_expired(
    signed: list[tuple[int, int | None]],
) -> None:
    held = [
        Held("C", NOW + dt.timedelta(days=s), None if e is None else TODAY + dt.timedelta(days=e)) for s, e in signed
    ]
    valid = any(h.signed_at <= NOW and (h.expires_on is None or h.expires_on > TODAY) for h in held)
    assert (standing("C", held, at=NOW, today=TODAY).standing is Standing.VALID) is valid
    assert (gaps("p", [Need("C", RequirementKind.RECIPE, "R")], held, at=NOW, today=TODAY) == []) is valid
