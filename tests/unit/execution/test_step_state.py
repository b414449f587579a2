"""The per-step state: typed per phase type, stored as the JSON earlier versions wrote, unknown keys refused."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ebr.core.errors import ValidationError
from ebr.execution import stepstate
from ebr.execution.stepstate import (
    HELD_BY,
    DosingState,
    EquipmentCheckState,
    StepState,
    TimedHoldState,
    Verification,
    dump,
    load,
)

texts = st.text(min_size=1, max_size=20)
counts = st.none() | st.integers(min_value=0, max_value=10**9)
# hypothesis takes naive bounds and adds the zone from ``timezones``.
EARLIEST = dt.datetime(2000, 1, 1)  # noqa: DTZ001
LATEST = dt.datetime(2100, 1, 1)  # noqa: DTZ001
moments = st.datetimes(min_value=EARLIEST, max_value=LATEST, timezones=st.just(dt.UTC))
verifications = st.none() | st.builds(
    Verification,
    status=st.sampled_from(["pending", "verified"]),
    entries=st.dictionaries(texts, texts, max_size=4),
    by=st.none() | texts,
)
common: dict[str, Any] = {
    "recorded": counts,
    "run": counts,
    "held_by": st.none() | st.sampled_from(HELD_BY),
    "verification": verifications,
}
states = st.one_of(
    st.builds(StepState, **common),
    st.builds(TimedHoldState, **common, hold_started_at=st.none() | moments, time_deviation=st.none() | texts),
    st.builds(DosingState, **common, runtime=st.none() | texts, trend_points=counts, runtime_command=counts),
    st.builds(EquipmentCheckState, **common, in_use=st.none() | texts),
)
TYPE_OF = {
    StepState: "instruction",
    TimedHoldState: "timed_hold",
    DosingState: "dosing",
    EquipmentCheckState: "equipment_check",
}


@pytest.mark.requirement("URS-SYS-023")
@given(states)
def test_every_state_survives_the_trip_to_json_and_back(state: StepState) -> None:
    import json

    stored = json.loads(json.dumps(dump(state)))  # what the JSON column hands back
    assert load(TYPE_OF[type(state)], stored) == state


@pytest.mark.requirement("URS-SYS-023")
@given(
    phase_type=st.sampled_from(["instruction", "timed_hold", "dosing", "equipment_check", "sample", None]),
    key=st.text(min_size=1, max_size=12).filter(lambda k: k not in {"recorded", "run", "held_by", "verification"}),
)
def test_a_key_the_step_type_does_not_keep_is_refused_with_the_keys_it_does(phase_type: str | None, key: str) -> None:
    known = set(stepstate.state_class(phase_type).__dataclass_fields__)
    if key in known:
        return
    with pytest.raises(ValidationError) as refused:
        load(phase_type, {"recorded": 1, key: "x"}, where="step UP1.OP1.PH1")
    message = str(refused.value)
    assert message.startswith("step UP1.OP1.PH1: its stored state is not valid")
    assert "Unknown field" in message
    assert "it keeps only recorded, run, held_by, verification" in message


@pytest.mark.requirement("URS-SYS-023")
def test_rows_written_before_the_typed_state_load_and_are_written_back_unchanged() -> None:
    old_rows = {
        "timed_hold": {"hold_started_at": "2026-11-24T20:15:59.123456Z", "recorded": 1, "time_deviation": "DEV-0003"},
        "dosing": {
            "runtime": "complete",
            "trend_points": 42,
            "runtime_command": 7,
            "recorded": 1,
            "verification": {"status": "pending", "entries": {"actual": "500.2"}},
        },
        "equipment_check": {"in_use": "R-101", "recorded": 2, "run": 2},
        "data_entry": {"recorded": 1, "verification": {"status": "verified", "entries": {"value": "7"}, "by": "sam"}},
        "sample": {"held_by": "sample", "recorded": 3},
    }
    for phase_type, data in old_rows.items():
        assert dump(load(phase_type, data)) == data, phase_type
    held = load("timed_hold", old_rows["timed_hold"])
    assert isinstance(held, TimedHoldState)
    assert held.hold_started_at == dt.datetime(2026, 11, 24, 20, 15, 59, 123456, tzinfo=dt.UTC)
    # An explicit null (written by a restart before) reads as absent.
    assert load("dosing", {"held_by": None, "runtime": "started"}) == DosingState(runtime="started")


@pytest.mark.parametrize(
    ("phase_type", "data", "problem"),
    [
        ("dosing", {"trend_points": "42"}, "trend_points: Not a valid integer"),
        ("dosing", {"recorded": -1}, "recorded: Must be greater than or equal to 0"),
        ("timed_hold", {"hold_started_at": "2026-11-24T20:15:59"}, "hold_started_at: not an RFC 3339 timestamp"),
        ("instruction", {"held_by": "somebody"}, "held_by: Must be one of"),
        ("instruction", {"verification": {"status": "maybe", "entries": {}}}, "verification.status"),
        ("instruction", {"in_use": "R-101"}, "in_use: Unknown field"),
    ],
)
def test_a_malformed_value_is_refused_naming_the_key(phase_type: str, data: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match="is not valid") as refused:
        load(phase_type, data)
    assert problem in str(refused.value)


def _step(phase_type: str | None, data: dict[str, Any]) -> Any:
    return SimpleNamespace(path="UP1.OP1.PH2", phase_type=phase_type, level="phase", data=data)


def test_a_change_writes_a_new_dict_and_refuses_a_field_the_type_does_not_keep() -> None:
    step = _step("timed_hold", {"hold_started_at": "2026-11-24T20:15:59.123456Z"})
    before = step.data
    stepstate.change(step, time_deviation="DEV-0001")
    assert step.data is not before, "a new dict, so the ORM sees the change"
    assert step.data == {"hold_started_at": "2026-11-24T20:15:59.123456Z", "time_deviation": "DEV-0001"}
    with pytest.raises(ValidationError, match="keeps no"):
        stepstate.change(step, in_use="R-101")


def test_a_state_of_another_phase_type_is_refused() -> None:
    with pytest.raises(Exception, match="not one with DosingState"):
        stepstate.state_of(_step("timed_hold", {}), DosingState)
