"""The shared unit registry: plant units understood and converted exactly, anything else refused in one line."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ebr.core import units
from ebr.core.errors import ValidationError


@pytest.mark.parametrize(
    ("value", "source", "target", "expected"),
    [
        ("4", "L/s", "L/min", "240"),
        ("1.5", "m3/h", "L/min", "25"),
        ("1.5", "m³/h", "L/min", "25"),
        ("250", "mg", "g", "0.25"),
        ("1", "hL", "L", "100"),
        ("30", "kg/h", "g/min", "500"),
        ("1013", "mbar", "bar", "1.013"),
    ],
)
def test_plant_units_convert_exactly_in_decimals(value: str, source: str, target: str, expected: str) -> None:
    result = units.convert(Decimal(value), source, target)
    assert isinstance(result, Decimal)
    assert result == Decimal(expected)


@pytest.mark.parametrize("symbol", ["kg", "mL", "°C", "mPa·s", "pH", "pcs", "%", "rpm", "mg/mL", "L/min", "m3"])
def test_units_plants_write_are_accepted(symbol: str) -> None:
    assert units.check(symbol) == symbol


@pytest.mark.parametrize("symbol", ["furlong", "mℓ", "Â°C", "🧪", "", "5", "1/0", "m**", "((", "parsec", "kg**"])
def test_units_that_are_not_plant_units_are_refused_with_one_line(symbol: str) -> None:
    with pytest.raises(ValidationError) as caught:
        units.check(symbol)
    assert "\n" not in str(caught.value)


def test_ph_and_pieces_are_their_own_units_not_picohenry_and_parsec() -> None:
    assert units.dimension("pH") == "[acidity]"
    assert units.dimension("pcs") == "[count]"
    assert not units.compatible("pH", "%")


def test_a_conversion_between_different_things_is_refused() -> None:
    with pytest.raises(ValidationError, match="cannot convert kg to L"):
        units.convert(Decimal(1), "kg", "L")


@given(st.text(max_size=20))
def test_any_text_is_either_a_unit_or_one_clear_error(text: str) -> None:
    message = ""
    try:
        units.check(text)
    except ValidationError as error:
        message = str(error)
    assert not message or repr(text) in message or "empty" in message
    assert "\n" not in message


def test_an_offset_unit_converts_exactly() -> None:
    assert units.convert(Decimal("20"), "°C", "K") == Decimal("293.15")
