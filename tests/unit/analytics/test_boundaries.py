"""The analytics inputs that come from people and files: years, limits in a control recipe, series."""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ebr.analytics import stats
from ebr.analytics.review import parse_year
from ebr.analytics.services import phase_limits
from ebr.core.errors import ValidationError
from tests.integration.execution.conftest import SIMPLE, recipe

EXAMPLES = int(os.environ.get("EBR_HYPOTHESIS_EXAMPLES", "60"))


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.one_of(st.text(max_size=8), st.integers(min_value=-99999, max_value=99999)))
def test_a_year_is_four_digits_or_one_clear_line(raw: str | int) -> None:
    text = str(raw).strip()
    if text.isdigit() and len(text) == 4 and text.isascii():
        assert parse_year(raw) == int(text)
    else:
        with pytest.raises(ValidationError, match="is not a year; use four digits such as 2026"):
            parse_year(raw)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=5), st.text(max_size=12))
def test_a_damaged_control_recipe_gives_no_limits_instead_of_failing(control: dict[str, Any], path: str) -> None:
    assert phase_limits(control, path) == (None, None)


def test_limits_come_from_the_phase_of_the_control_recipe() -> None:
    control = recipe(SIMPLE).to_dict()
    assert phase_limits(control, "UP1.OP1.PH3") == (Decimal(15), Decimal(30))
    assert phase_limits(control, "UP1.OP2.PH2") == (Decimal(0), Decimal(100))
    assert phase_limits(control, "UP1.OP1.PH2") == (None, None)  # an instruction has none


series = st.lists(
    st.tuples(st.floats(min_value=0, max_value=3600), st.floats(min_value=-1e3, max_value=1e3)), max_size=30
)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(series, max_size=5), series)
def test_a_band_is_built_or_refused_in_one_line_and_outside_points_lie_outside(
    references: list[list[tuple[float, float]]], batch: list[tuple[float, float]]
) -> None:
    if sum(1 for r in references if r) < 2:
        with pytest.raises(ValidationError, match="at least 2 reference batches"):
            stats.reference_band(references)
        return
    band = stats.reference_band(references)
    assert all(lo <= hi for lo, hi in zip(band.low, band.high, strict=True))
    for point in stats.outside_band(band, batch):
        assert point.value < point.low or point.value > point.high
