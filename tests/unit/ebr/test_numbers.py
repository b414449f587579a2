"""Typed numbers under the plant's locale: decimal comma accepted, ambiguous grouping refused."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ebr.errors import ValidationError
from ebr.web.numbers import normalize


@pytest.mark.parametrize(
    ("typed", "locale", "stored"),
    [("24,5", "de_DE", "24.5"), ("24.5", "de_DE", "24.5"), ("24.5", "en", "24.5"), (" 7 ", "fr_FR", "7"),
     ("0,125", "fr_FR", "0.125"), ("clear", "de_DE", "clear"), ("24,5", "en", "24,5")],
)  # fmt: skip
def test_a_decimal_comma_is_read_where_the_locale_uses_it(typed: str, locale: str, stored: str) -> None:
    assert normalize(typed, locale) == stored


@pytest.mark.parametrize("typed", ["1.234,5", "1,2,3"])
def test_grouped_or_doubled_separators_are_refused_with_one_line(typed: str) -> None:
    with pytest.raises(ValidationError) as refused:
        normalize(typed, "de_DE", label="Temperature")
    assert refused.value.message.startswith("Temperature: ")


@given(st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-(10**6), max_value=10**6))
def test_any_decimal_typed_with_a_comma_reads_back_exactly(value: Decimal) -> None:
    typed = format(value, "f").replace(".", ",")
    assert Decimal(normalize(typed, "de_DE")) == value
