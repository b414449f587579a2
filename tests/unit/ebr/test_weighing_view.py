"""The weighing screen's verdict and bar position (pure)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from ebr.execution.view_weighing import BAR_WIDTH, LiveWeighing

D = Decimal


def weighing(weight: str, *, tared: bool = True) -> LiveWeighing:
    return LiveWeighing(D(weight), tared, True, "kg", D("10.000"), D("9.900"), D("10.100"))


def test_the_verdict_says_how_much_to_add_or_take_out() -> None:
    assert weighing("9.850").verdict == "add 0.050 kg to reach the window"
    assert weighing("10.000").verdict == "within tolerance"
    assert weighing("10.250").verdict == "0.150 kg too much: take some out"
    assert weighing("10.000", tared=False).verdict == ""


@given(st.decimals(min_value=-1000, max_value=1000, allow_nan=False, allow_infinity=False, places=3))
def test_the_bar_never_leaves_its_frame(weight: Decimal) -> None:
    assert 0 <= weighing("0").x(weight) <= BAR_WIDTH
