"""ebr.analytics.stats against published worked examples, and the rules on constructed series."""

from __future__ import annotations

import math
import os
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from scipy import integrate
from scipy import stats as scistats

from ebr.analytics import stats
from ebr.core.errors import ValidationError

EXAMPLES = int(os.environ.get("EBR_HYPOTHESIS_EXAMPLES", "60"))

# NIST/SEMATECH e-Handbook of Statistical Methods, §6.3.2.2 "Individuals Control Charts",
# example: ten batches, their moving ranges, x̄ = 50.81, MR̄ = 1.8778,
# UCL = 55.8041, LCL = 45.8159, MR chart UCL = 6.1347.
NIST_IMR = [Decimal(v) for v in ["49.6", "47.6", "49.9", "51.3", "47.8", "51.2", "52.6", "52.4", "53.6", "52.1"]]


@pytest.mark.requirement("URS-CPV-001")
def test_individuals_chart_matches_the_nist_handbook_example_6_3_2_2() -> None:
    limits = stats.imr_limits(NIST_IMR)
    assert round(limits.center, 2) == 50.81
    assert round(limits.mr_bar, 4) == 1.8778
    assert round(limits.ucl, 4) == 55.8041
    assert round(limits.lcl, 4) == 45.8159
    assert round(limits.mr_ucl, 4) == 6.1347
    mrs = stats.moving_ranges(NIST_IMR)
    assert mrs[0] is None
    assert [round(m, 1) for m in mrs[1:] if m is not None] == [2.0, 2.3, 1.4, 3.5, 3.4, 1.4, 0.2, 1.2, 1.5]
    assert stats.nelson_rules(NIST_IMR, limits.center, limits.sigma) == []


@pytest.mark.requirement("URS-CPV-001")
def test_capability_indices_match_the_nist_handbook_example_6_1_6() -> None:
    # e-Handbook §6.1.6 "What is Process Capability?": USL = 20, LSL = 8, μ = 16, σ = 2
    # gives Cp = 1.0 and Cpk = min(0.6667, 1.3333) = 0.6667.
    cp, cpk = stats.indices(16.0, 2.0, 8.0, 20.0)
    assert cp == pytest.approx(1.0)
    assert cpk is not None
    assert round(cpk, 4) == 0.6667
    assert stats.indices(16.0, 2.0, None, 20.0) == (None, pytest.approx(0.6667, abs=1e-4))


@pytest.mark.requirement("URS-CPV-001")
def test_confidence_intervals_match_montgomerys_worked_examples() -> None:
    # The chi-square interval of Cp and the normal-approximation interval of Cpk are the
    # ones of e-Handbook §6.1.6; their worked numbers are in D. C. Montgomery, Introduction
    # to Statistical Quality Control (6th ed.), §8.3.5, Examples 8.5 and 8.6:
    # n = 20, Ĉp = 2.29 → 1.57 ≤ Cp ≤ 3.01; n = 20, Ĉpk = 1.33 → 0.88 ≤ Cpk ≤ 1.78.
    cp = stats.cp_interval(2.29, 20)
    assert (round(cp.low, 2), round(cp.high, 2)) == (1.57, 3.01)
    cpk = stats.cpk_interval(1.33, 20)
    assert (round(cpk.low, 2), round(cpk.high, 2)) == (0.88, 1.78)


def test_the_constants_table_agrees_with_the_definition_of_d2_and_a2() -> None:
    for n, (a2, _d3, d4, d2) in stats.CONSTANTS.items():

        def integrand(x: float, n: int = n) -> float:
            cdf = float(scistats.norm.cdf(x))
            return 1 - cdf**n - (1 - cdf) ** n

        exact, _ = integrate.quad(integrand, -np.inf, np.inf)
        assert round(exact, 3) == pytest.approx(d2, abs=0.0011), n
        assert 3 / (d2 * math.sqrt(n)) == pytest.approx(a2, abs=0.0011), n
        assert d4 > 1


def test_xbar_r_limits_of_a_small_hand_worked_set() -> None:
    # Three subgroups of 3: means 2, 5, 8 (x̿ = 5), ranges 2, 2, 2 (R̄ = 2), A2(3) = 1.023, D4(3) = 2.574.
    limits = stats.xbar_r_limits([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    assert (limits.grand_mean, limits.r_bar, limits.n) == (5.0, 2.0, 3)
    assert limits.ucl == pytest.approx(5 + 1.023 * 2)
    assert limits.lcl == pytest.approx(5 - 1.023 * 2)
    assert limits.r_ucl == pytest.approx(2.574 * 2)
    assert limits.r_lcl == 0.0
    with pytest.raises(ValidationError, match="one size"):
        stats.xbar_r_limits([[1, 2], [1, 2, 3]])
    with pytest.raises(ValidationError, match="2 to 10"):
        stats.xbar_r_limits([[1] * 11, [2] * 11])


def test_a_baseline_of_one_value_is_refused_with_what_to_do() -> None:
    with pytest.raises(ValidationError, match="at least 2 baseline values, got 1; choose more batches"):
        stats.imr_limits([Decimal(1)])


def _rules(values: list[float], ruleset: stats.RuleSet = "nelson") -> set[tuple[int, int]]:
    return {(v.rule, v.index) for v in stats.nelson_rules(values, 0.0, 1.0, ruleset=ruleset)}


QUIET = [0.1, -0.2, 0.3, -0.1, 0.2, -0.3, 0.1, -0.2]  # within 1σ, alternating sides, no 15-run


@pytest.mark.requirement("URS-CPV-001")
@pytest.mark.parametrize(
    ("series", "rule", "index"),
    [
        ([*QUIET, 3.5], 1, 8),
        ([*QUIET, -3.2], 1, 8),
        (QUIET + [0.5] * 9, 2, 16),
        ([*QUIET, -0.4, -0.3, -0.1, 0.0, 0.2, 0.4], 3, 13),
        ([*QUIET, 0.6, 0.5, 0.4, 0.2, 0.1, -0.1], 3, 13),
        ([0.5 * (-1) ** i for i in range(14)], 4, 13),
        ([*QUIET, 2.5, 0.0, 2.2], 5, 10),
        ([*QUIET, -2.5, -2.6], 5, 9),
        ([*QUIET, 1.5, 1.2, 0.0, 1.1, 1.3], 6, 12),
        ([0.1 * (-1) ** i * (i % 3) for i in range(15)], 7, 14),
        ([*QUIET, 1.5, -1.5, 1.2, -1.2, 1.4, -1.6, 1.1, -1.3], 8, 15),
    ],
)
def test_each_nelson_rule_is_flagged_at_the_point_that_completes_it(series: list[float], rule: int, index: int) -> None:
    found = _rules(series)
    assert (rule, index) in found
    assert not any(r == rule and i < index for r, i in found), found


def test_a_run_of_eight_is_rule_2_only_under_western_electric() -> None:
    series = QUIET + [0.5] * 8
    assert (2, 15) in _rules(series, "western_electric")
    assert not any(rule == 2 for rule, _ in _rules(series, "nelson"))
    assert not any(rule in (3, 4, 7, 8) for rule, _ in _rules(QUIET + [0.2] * 20, "western_electric"))


def test_violations_name_the_points_that_break_the_rule() -> None:
    [v] = [v for v in stats.nelson_rules([*QUIET, 2.5, 0.0, 2.2], 0.0, 1.0) if v.rule == 5]
    assert v.points == (8, 10)
    assert v.description == "2 of 3 points in a row beyond 2σ on one side"


def test_an_unknown_rule_set_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown rule set 'acme'; use one of: nelson, western_electric"):
        stats.nelson_rules([1.0], 0.0, 1.0, ruleset="acme")  # type: ignore[arg-type]


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


thousandths = st.integers(min_value=-10_000_000, max_value=10_000_000).map(lambda k: k / 1000)


# Recorded values have a few decimals: a difference of 1e-16 would be lost in any shift.
@settings(max_examples=EXAMPLES, deadline=None)
@given(
    st.lists(thousandths, min_size=2, max_size=60),
    st.integers(min_value=-10_000, max_value=10_000),
    st.sampled_from([0.5, 2.0, 4.0, 10.0]),
)
def test_rules_do_not_change_when_the_scale_is_shifted_and_stretched(
    values: list[float], shift: int, scale: float
) -> None:
    limits = stats.imr_limits(values)
    if limits.sigma == 0:
        return
    before = {(v.rule, v.index) for v in stats.nelson_rules(values, limits.center, limits.sigma)}
    moved = [v * scale + shift for v in values]
    after_limits = stats.imr_limits(moved)
    after = {(v.rule, v.index) for v in stats.nelson_rules(moved, after_limits.center, after_limits.sigma)}
    # Values very close to a zone edge may move across it by rounding; compare away from the edges.
    z = (np.asarray(values) - limits.center) / limits.sigma
    near_edge = np.any(np.abs(np.abs(z)[:, None] - np.asarray([1.0, 2.0, 3.0])[None, :]) < 1e-6) or np.any(
        np.abs(z) < 1e-6
    )
    if not near_edge:
        assert before == after
    assert after_limits.lcl <= after_limits.center <= after_limits.ucl


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(st.decimals(min_value=-1000, max_value=1000, places=3), min_size=0, max_size=40), finite, finite)
def test_capability_never_crashes_and_explains_itself(values: list[Decimal], a: float, b: float) -> None:
    lsl, usl = (min(a, b), max(a, b))
    if lsl == usl:
        with pytest.raises(ValidationError, match="not below"):
            stats.capability(values, lsl=lsl, usl=usl)
        return
    result = stats.capability(values, lsl=lsl, usl=usl)
    assert result.n == len(values)
    if len(values) < stats.CAPABILITY_WANTED:
        assert result.notes, "too few values must be noted"
    if result.cpk is not None and result.cpk_ci is not None:
        assert result.cpk_ci.low <= result.cpk <= result.cpk_ci.high
    if result.cp is not None and result.cp_ci is not None:
        assert result.cp_ci.low <= result.cp <= result.cp_ci.high
        assert result.cpk is not None
        assert result.cpk <= result.cp + 1e-9


def test_capability_notes_data_that_are_not_normal() -> None:
    skewed = [Decimal(v) for v in [1] * 20 + [2, 3, 5, 8, 13, 21, 34, 55, 89, 144]]
    result = stats.capability(skewed, lsl=0, usl=200)
    assert any("do not look normal" in note for note in result.notes)
    normal = scistats.norm.ppf(np.linspace(0.02, 0.98, 40)) * 0.5 + 10
    clean = stats.capability([Decimal(f"{v:.4f}") for v in normal], lsl=8, usl=12)
    assert clean.notes == []
    assert clean.ppk is not None
    assert clean.ppk == pytest.approx(2 / (3 * float(np.std(normal, ddof=1))), rel=1e-3)


def test_the_reference_band_lists_the_points_outside() -> None:
    references = [[(t, 20 + 0.1 * t / 60 + d) for t in range(0, 601, 30)] for d in (-0.2, 0.0, 0.2, 0.1, -0.1)]
    band = stats.reference_band(references, step=60)
    assert band.seconds[0] == 0.0
    assert band.seconds[-1] == 600.0
    assert band.references == 5
    assert band.low[0] < 20 < band.high[0]
    good = [(t, 20 + 0.1 * t / 60) for t in range(0, 601, 60)]
    assert stats.outside_band(band, good) == []
    bad = [*good[:5], (300.0, 26.0), (900.0, 99.0)]
    [out] = stats.outside_band(band, bad)
    assert (out.second, out.value) == (300.0, 26.0)
    assert out.high < 26.0
    with pytest.raises(ValidationError, match="at least 2 reference batches"):
        stats.reference_band(references[:1])


class RulesAfterEachRelease(RuleBasedStateMachine):
    """Evaluating the rules after each release finds exactly what a later, retrospective chart
    finds up to that batch: a rule is completed by a point and never depends on later points."""

    def __init__(self) -> None:
        super().__init__()
        self.values: list[float] = []
        self.flagged: dict[int, set[int]] = {}
        self.limits = stats.imr_limits([20.0, 20.4, 19.8, 20.2, 19.9])

    @rule(value=st.integers(min_value=1800, max_value=2200).map(lambda k: k / 100))
    def release(self, value: float) -> None:
        self.values.append(value)
        index = len(self.values) - 1
        found = stats.nelson_rules(self.values, self.limits.center, self.limits.sigma)
        self.flagged[index] = {v.rule for v in found if v.index == index}

    @invariant()
    def the_retrospective_chart_agrees(self) -> None:
        later = stats.nelson_rules(self.values, self.limits.center, self.limits.sigma)
        by_index: dict[int, set[int]] = {}
        for v in later:
            by_index.setdefault(v.index, set()).add(v.rule)
            assert max(v.points) == v.index
        assert {i: by_index.get(i, set()) for i in self.flagged} == self.flagged


RulesAfterEachRelease.TestCase.settings = settings(
    max_examples=max(EXAMPLES // 3, 10), stateful_step_count=40, deadline=None
)
test_rules_after_each_release = RulesAfterEachRelease.TestCase
