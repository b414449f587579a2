"""Yield and reconciliation: the recipe's declarations (checked, round-tripped) and the exact arithmetic."""

from __future__ import annotations

import copy
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recipes import yields
from recipes.authoring import RecipeInvalid, parse_document, parse_yaml, to_yaml
from recipes.batchml import export_batchml
from recipes.batchml_import import read_batchml
from recipes.model import ParamRef, YieldSpec
from recipes.scaling import scale
from tests.unit.recipes.helpers import LIQUID, SOLID, example, example_document

YIELD = {"theoretical": {"param": "final_volume"}, "unit": "L", "actual": "UP1.OP5.PH3", "low": "99.5", "high": "100.5"}


def liquid(**changes: Any) -> dict[str, Any]:
    data = example_document(LIQUID)
    data["unit_procedures"][0]["yield"] = {**copy.deepcopy(YIELD), **changes}
    return data


def refused(data: dict[str, Any]) -> list[str]:
    with pytest.raises(RecipeInvalid) as caught:
        parse_document(data)
    return list(caught.value.problems)


@pytest.mark.requirement("URS-BAT-020")
def test_the_example_recipes_declare_yields_with_exact_limits() -> None:
    recipe = example(LIQUID)
    assert dict(recipe.yields()) == {
        "UP1": YieldSpec(ParamRef("final_volume"), "L", "UP1.OP5.PH3", Decimal("99.5"), Decimal("100.5")),
        "batch": YieldSpec(ParamRef("bottles_theoretical"), "pcs", "UP2.OP2.PH2", Decimal("97.0"), Decimal("101.0")),
    }
    assert recipe.bill_of_materials.get("RM-PCM").reconciliation == Decimal("0.5")  # type: ignore[union-attr]
    assert dict(example(SOLID).yields())["batch"].theoretical == Decimal("60.000")


@pytest.mark.requirement("URS-BAT-020", "URS-REC-005")
@pytest.mark.parametrize("name", [LIQUID, SOLID])
def test_yields_and_reconciliation_limits_survive_batchml_and_yaml_round_trips(name: str) -> None:
    recipe = example(name)
    first = export_batchml(recipe, version="1")
    [imported] = read_batchml(first)
    assert imported.unmapped == ()
    assert imported.recipe == recipe
    assert export_batchml(imported.recipe, version="1") == first
    assert parse_yaml(to_yaml(recipe)) == recipe


@pytest.mark.requirement("URS-BAT-020")
@pytest.mark.parametrize(
    ("changes", "problem"),
    [({"low": 101, "high": 100}, "unit_procedures[0].yield.low: 101 is above high 100"),
     ({"low": None, "high": None}, "unit_procedures[0].yield: give low, high or both"),
     ({"low": -1}, "yield.low: must not be negative"),
     ({"actual": "UP1.OP5.PH9"}, "yield.actual: 'UP1.OP5.PH9' is not a phase of the recipe"),
     ({"actual": "UP2.OP2.PH2"}, "yield.actual: UP2.OP2.PH2 is not in unit procedure UP1"),
     ({"actual": "UP1.OP3.PH6"}, "UP1.OP3.PH6 (data_entry) records no quantity"),
     ({"actual": "UP1.OP1.PH3"}, "UP1.OP1.PH3 (instruction) records no quantity"),
     ({"unit": "kg"}, "unit mismatch: final_volume is in L, the yield in kg"),
     ({"theoretical": {"param": "nothing"}}, "missing parameter or material 'nothing'"),
     ({"theoretical": 0}, "yield.theoretical: must be positive, got 0"),
     ({"unit": "furlong"}, "unit_procedures[0].yield.unit:"),
     ({"actual": "UP1/OP5/PH3"}, "not a phase path")],
)  # fmt: skip
def test_an_inconsistent_yield_is_refused_with_one_clear_line(changes: dict[str, Any], problem: str) -> None:
    problems = refused(liquid(**changes))
    assert any(problem in p for p in problems), problems


def test_an_actual_step_in_another_dimension_is_refused() -> None:
    data = liquid(unit="pcs", theoretical=1000)
    assert any("unit mismatch: UP1.OP5.PH3 is in L, the yield in pcs" in p for p in refused(data))


@pytest.mark.parametrize(
    ("line", "problem"),
    [({"reconciliation": -1}, "reconciliation: must not be negative"),
     ({"reconciliation": 1, "reconciliation_unit": "L"}, "unit mismatch: L for a material in kg (use % or kg)")],
)  # fmt: skip
def test_a_reconciliation_limit_that_cannot_apply_is_refused(line: dict[str, Any], problem: str) -> None:
    data = example_document(LIQUID)
    data["bill_of_materials"]["materials"][1].update(line)
    assert any(problem in p for p in refused(data))


def test_scaling_resolves_a_referenced_theoretical_and_scales_a_literal_one() -> None:
    assert scale(example(LIQUID), Decimal(500)).yield_.theoretical == Decimal(5000)  # type: ignore[union-attr]
    up = scale(example(LIQUID), Decimal(500)).unit_procedures[0].yield_
    assert up is not None
    assert up.theoretical == Decimal(500)
    assert scale(example(SOLID), Decimal(45)).yield_.theoretical == Decimal("45.000")  # type: ignore[union-attr]


# -- arithmetic ---------------------------------------------------------------------------


@pytest.mark.requirement("URS-BAT-021")
def test_yield_percent_is_exact_and_limits_are_inclusive() -> None:
    assert yields.percent(Decimal("995"), Decimal("1000")) == Fraction(995, 10)
    assert yields.within(Fraction(995, 10), Decimal("99.5"), Decimal("100.5"))
    assert yields.within(Fraction(1005, 10), Decimal("99.5"), Decimal("100.5"))
    assert not yields.within(Fraction(99499, 1000), Decimal("99.5"), Decimal("100.5"))
    # 1/3 of 3: no float rounding makes 100 % fall outside [100, 100].
    assert yields.within(yields.percent(Decimal(1) / Decimal(3) * 3, Decimal(1)), None, Decimal("100.01"))
    assert yields.shown(Fraction(200, 3)) == Decimal("66.67")
    with pytest.raises(ValueError, match="must be positive"):
        yields.percent(Decimal(1), Decimal(0))


@pytest.mark.requirement("URS-BAT-021")
def test_a_hand_computed_reconciliation() -> None:
    # Container issued 25.000 kg, 24.012 kg consumed, 0.950 kg re-weighed back, 0.020 kg swept up.
    balance = yields.Balance(Decimal("25.000"), Decimal("24.012"), Decimal("0.950"), Decimal("0.020"))
    assert balance.difference == Decimal("0.018")
    assert yields.reconciled(balance, Decimal("0.5"), "%") is True  # 0.5 % of 25 = 0.125 kg
    assert yields.reconciled(balance, Decimal("0.018"), "kg") is True  # inclusive
    assert yields.reconciled(balance, Decimal("0.017"), "kg") is False
    assert yields.reconciled(balance, None, "%") is None


quantities = st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False, allow_infinity=False)


@given(st.lists(st.tuples(quantities, quantities, quantities, quantities), min_size=1, max_size=6))
def test_the_reconciliation_balances_container_by_container_and_in_total(
    rows: list[tuple[Decimal, Decimal, Decimal, Decimal]],
) -> None:
    balances = [yields.Balance(*row) for row in rows]
    total = sum(balances[1:], balances[0])
    assert total.issued == total.consumed + total.returned + total.waste + total.difference
    assert total.difference == sum((b.difference for b in balances), Decimal(0))
    # The difference is exactly what is left unexplained; limited by itself it always passes (inclusive).
    assert yields.reconciled(total, abs(total.difference), "kg") is True


@given(quantities.filter(lambda q: q > 0), quantities, st.decimals(min_value=0, max_value=200, places=2))
def test_a_yield_is_within_its_limits_exactly_when_low_le_percent_le_high(
    theoretical: Decimal, actual: Decimal, limit: Decimal
) -> None:
    value = yields.percent(actual, theoretical)
    assert yields.within(value, limit, None) == (actual * 100 >= limit * theoretical)
    assert yields.within(value, None, limit) == (actual * 100 <= limit * theoretical)


percents = st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-10, max_value=300)


@settings(max_examples=40, deadline=None)  # the whole example recipe is parsed and exported each time
@given(percents, percents, st.sampled_from(["L", "mL", "kg", "pcs", "min"]))
def test_any_yield_declaration_round_trips_or_is_refused_with_one_line_per_problem(
    low: Decimal, high: Decimal, unit: str
) -> None:
    data = liquid(low=str(low), high=str(high), unit=unit)
    wrong = []
    if low < 0:
        wrong.append("yield.low: must not be negative")
    if low > high:
        wrong.append(f"yield.low: {low} is above high {high}")
    if unit not in ("L", "mL"):
        wrong.append("unit mismatch")
    if wrong:
        problems = [p for p in refused(data) if "yield" in p]
        assert all(any(w in p for p in problems) for w in wrong), problems
        return
    recipe = parse_document(data)
    [imported] = read_batchml(export_batchml(recipe, version="1"))
    assert imported.recipe == recipe
    spec = imported.recipe.unit_procedures[0].yield_
    assert spec is not None
    assert (spec.low, spec.high, spec.unit) == (low, high, unit)
