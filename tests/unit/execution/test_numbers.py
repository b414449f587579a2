"""Typed numbers under the plant's locale: decimal comma accepted, ambiguous grouping refused."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ebr.core.errors import ValidationError
from ebr.execution.numbers import display, normalize


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


@pytest.mark.parametrize(
    ("stored", "locale", "shown"),
    [("24.50", "de_DE", "24,50"), ("24.50", "en", "24.50"), ("-0.125", "fr_FR", "-0,125"),
     ("1234.5", "de_DE", "1234,5"), ("35", "de_DE", "35"), ("S-1.2", "de_DE", "S-1.2"),
     ("C-L-Y", "de_DE", "C-L-Y"), ("1e3", "de_DE", "1e3"),
     (Decimal("7.0"), "de_CH", "7.0"), (Decimal("7.0"), "de_AT", "7,0")],
)  # fmt: skip
def test_a_plain_decimal_is_shown_with_the_locales_symbol_and_every_digit(
    stored: str | Decimal, locale: str, shown: str
) -> None:
    assert display(stored, locale) == shown


@given(
    st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-(10**9), max_value=10**9),
    st.sampled_from(["de_DE", "fr_FR", "en", "en_US", "pt_BR", "de_CH"]),
)
def test_what_is_shown_reads_back_as_the_stored_value(value: Decimal, locale: str) -> None:
    stored = format(value, "f")
    assert normalize(display(stored, locale), locale) == stored
