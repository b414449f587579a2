"""Scaling master recipes to control recipes."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recipes.authoring import parse_document
from recipes.model import Dosing, ParamRef, WeighDispense
from recipes.scaling import ScalingError, scale
from recipes.units import round_to
from tests.unit.recipes.helpers import LIQUID, SOLID, example, small_document


@pytest.mark.requirement("URS-REC-004")
def test_scaled_parameters_and_materials_scale_and_unscaled_parameters_do_not() -> None:
    master = example(LIQUID)
    control = scale(master, Decimal("1200"))
    assert control.formula.get("water_charge").value == Decimal("900.0")  # type: ignore[union-attr]
    assert control.formula.get("water_charge").low == Decimal("888.0")  # type: ignore[union-attr]
    assert control.formula.get("dissolve_temperature").value == Decimal("40.0")  # type: ignore[union-attr]
    assert control.bill_of_materials.get("RM-PCM").quantity == Decimal("28.800")  # type: ignore[union-attr]
    assert control.batch_size.nominal == Decimal("1200")


@pytest.mark.requirement("URS-REC-004")
def test_phase_references_are_resolved_to_the_scaled_values_in_the_control_recipe() -> None:
    control = scale(example(LIQUID), Decimal("600"))
    dosing = control.phase("UP1.OP2.PH1").params
    assert isinstance(dosing, Dosing)
    assert dosing.target == Decimal("450.0")
    weigh = control.phase("UP1.OP3.PH1").params
    assert isinstance(weigh, WeighDispense)
    assert weigh.target == Decimal("14.400")
    # The master keeps its reference: scaling never changes it.
    assert example(LIQUID).phase("UP1.OP2.PH1").params.target == ParamRef("water_charge")  # type: ignore[union-attr]


@pytest.mark.requirement("URS-REC-004")
def test_each_value_is_rounded_half_up_to_its_stated_precision_or_its_unit_default() -> None:
    control = scale(example(SOLID), Decimal("37"))
    # 30.000 kg × 37/60 = 18.5 kg exactly; 23.700 × 37/60 = 14.615 kg (kg → 0.001)
    assert control.bill_of_materials.get("RM-MET").quantity == Decimal("18.500")  # type: ignore[union-attr]
    assert control.bill_of_materials.get("RM-MCC").quantity == Decimal("14.615")  # type: ignore[union-attr]
    # water_charge states precision 0.5 L: 750 × 733/1000 = 549.75 → 550.0
    liquid = scale(example(LIQUID), Decimal("733"))
    assert liquid.formula.get("water_charge").value == Decimal("550.0")  # type: ignore[union-attr]


def test_rounding_is_half_up_to_a_multiple_of_the_precision() -> None:
    assert round_to(Decimal("1.2345"), Decimal("0.001")) == Decimal("1.235")
    assert round_to(Decimal("549.75"), Decimal("0.5")) == Decimal("550.0")
    assert round_to(Decimal("549.74"), Decimal("0.5")) == Decimal("549.5")


@pytest.mark.requirement("URS-REC-004")
@pytest.mark.parametrize("size", ["49.99", "200.01", "0", "-5"])
def test_a_batch_size_outside_the_recipes_range_is_refused(size: str) -> None:
    recipe = parse_document(small_document())
    with pytest.raises(ScalingError, match=r"outside the range of recipe TEST-1 \(50–200 L\)"):
        scale(recipe, Decimal(size))


def test_scaling_to_the_nominal_size_changes_nothing_but_resolves_references() -> None:
    master = parse_document(small_document())
    control = scale(master, Decimal(100))
    assert control.formula == master.formula
    assert control.bill_of_materials == master.bill_of_materials
    assert control.phase("UP1.OP1.PH1").params.target == Decimal("80.0")  # type: ignore[union-attr]


@pytest.mark.requirement("URS-REC-004")
@settings(max_examples=200, deadline=None)
@given(size=st.decimals(min_value=Decimal(30), max_value=Decimal(75), places=3))
def test_every_scaled_quantity_is_within_half_its_precision_of_the_exact_proportion(size: Decimal) -> None:
    master = example(SOLID)
    control = scale(master, size)
    for line, scaled in zip(master.bill_of_materials.materials, control.bill_of_materials.materials, strict=True):
        exact = line.quantity * size / master.batch_size.nominal
        assert abs(scaled.quantity - exact) <= Decimal("0.0005")
        assert scaled.quantity.as_tuple().exponent == -3
