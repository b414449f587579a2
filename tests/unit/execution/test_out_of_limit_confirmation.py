"""The one rule for typed numbers (browser and API): outside its limits, a value is stored only when confirmed."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ebr.execution import phases
from recipes.phases import DataEntry, EntryKind

LOW, HIGH = Decimal("15"), Decimal("30")
TEMPERATURE = DataEntry(EntryKind.NUMERIC, "Temperature", unit="°C", low=LOW, high=HIGH)


def turn(params: DataEntry) -> Any:
    # Only what data entry reads: the step's path, its phase and its current entries (none yet).
    phase = SimpleNamespace(params=params, type=SimpleNamespace(value="data_entry"))
    return phases.Turn(None, None, None, SimpleNamespace(path="UP1.OP1.PH3"), phase, "olga", {})  # type: ignore[arg-type]


values = st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-100, max_value=100)


@pytest.mark.requirement("URS-BAT-003")
@given(values)
def test_an_unconfirmed_value_is_refused_exactly_when_it_is_outside_its_limits(value: Decimal) -> None:
    raw = format(value, "f")
    if LOW <= value <= HIGH:
        result = phases.on_record(turn(TEMPERATURE), {"value": raw}, confirmed=False)
        assert result.deviations == []
        return
    with pytest.raises(phases.OutOfLimitsUnconfirmed) as asked:
        phases.on_record(turn(TEMPERATURE), {"value": raw}, confirmed=False)
    assert "limits 15–30 °C" in asked.value.message
    assert (asked.value.low, asked.value.high, asked.value.unit) == (LOW, HIGH, "°C")
    confirmed = phases.on_record(turn(TEMPERATURE), {"value": raw}, confirmed=True)
    assert [d.kind.value for d in confirmed.deviations] == ["out_of_limit"]
    assert confirmed.entries[0].in_limits is False


@pytest.mark.parametrize(
    ("params", "text"),
    [(DataEntry(EntryKind.NUMERIC, "pH", low=Decimal("3.5")), "low limit 3.5"),
     (DataEntry(EntryKind.NUMERIC, "pH", high=Decimal("7")), "high limit 7")],
)  # fmt: skip
def test_a_one_sided_limit_is_named_as_such(params: DataEntry, text: str) -> None:
    with pytest.raises(phases.OutOfLimitsUnconfirmed) as asked:
        phases.on_record(turn(params), {"value": "1" if params.low else "9"}, confirmed=False)
    assert f"({text})" in asked.value.message


def test_a_fail_answer_is_a_deliberate_choice_and_needs_no_confirmation() -> None:
    result = phases.on_record(turn(DataEntry(EntryKind.PASS_FAIL, "Clear")), {"value": "fail"}, confirmed=False)
    assert result.entries[0].in_limits is False
    assert len(result.deviations) == 1
