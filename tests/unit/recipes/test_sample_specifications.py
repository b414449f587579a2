"""A sample phase declares its tests' specifications: parsed, checked, and carried through BatchML."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recipes.authoring import RecipeInvalid, parse_document, parse_yaml, to_yaml
from recipes.batchml import export_batchml
from recipes.batchml_import import read_batchml
from recipes.phases import Sample, TestSpec

DOCUMENT: dict[str, Any] = {
    "name": "SAMPLED",
    "title": "A sample with declared specifications",
    "product": {"code": "FG-S", "name": "Sampled product"},
    "batch_size": {"nominal": 100, "min": 50, "max": 150, "unit": "L"},
    "unit_procedures": [
        {"id": "UP1", "name": "Mix", "equipment": {"unit_class": "reactor", "unit": "R-101"}, "operations": [
            {"id": "OP1", "name": "In-process control", "phases": [
                {"id": "PH1", "name": "In-process sample", "type": "sample", "tests": ["pH", "assay"],
                 "quantity": 100, "unit": "mL", "wait_for_result": True,
                 "specifications": [{"test": "assay", "low": "98.0", "high": "102.0", "unit": "%"}]},
            ]},
        ]},
    ],
}  # fmt: skip


def document(*specs: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(DOCUMENT)
    data["unit_procedures"][0]["operations"][0]["phases"][0]["specifications"] = list(specs)
    return data


def sample(data: dict[str, Any]) -> Sample:
    params = parse_document(data).unit_procedures[0].operations[0].phases[0].params
    assert isinstance(params, Sample)
    return params


@pytest.mark.requirement("URS-BAT-010")
def test_a_declared_specification_is_read_with_exact_decimals() -> None:
    assert sample(DOCUMENT).specifications == (TestSpec("assay", Decimal("98.0"), Decimal("102.0"), "%"),)


@pytest.mark.requirement("URS-BAT-010", "URS-REC-005")
def test_declared_specifications_survive_a_batchml_round_trip() -> None:
    recipe = parse_document(DOCUMENT)
    first = export_batchml(recipe, version="1")
    [imported] = read_batchml(first)
    assert imported.unmapped == ()
    assert imported.recipe == recipe
    assert export_batchml(imported.recipe, version="1") == first


@pytest.mark.parametrize(
    ("spec", "problem"),
    [({"test": "colour", "low": "1"}, "'colour' is not one of the sample's tests"),
     ({"test": "assay"}, "give low, high or both"),
     ({"test": "assay", "low": "5", "high": "4"}, "5 is above high 4"),
     ({"test": "assay", "low": "1", "unit": "furlongs per fortnight"}, "specifications[0].unit")],
)  # fmt: skip
def test_a_specification_that_cannot_be_met_or_belongs_to_no_test_is_refused(
    spec: dict[str, Any], problem: str
) -> None:
    with pytest.raises(RecipeInvalid) as refused:
        parse_document(document(spec))
    assert any(problem in p for p in refused.value.problems), refused.value.problems


def test_a_test_specified_twice_is_refused() -> None:
    with pytest.raises(RecipeInvalid) as refused:
        parse_document(document({"test": "pH", "low": "3"}, {"test": "pH", "high": "7"}))
    assert any("duplicate test 'pH'" in p for p in refused.value.problems)


limits = st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-1000, max_value=1000)


@given(limits, limits)
def test_any_ordered_pair_of_limits_round_trips_and_any_reversed_pair_is_refused(a: Decimal, b: Decimal) -> None:
    data = document({"test": "pH", "low": str(a), "high": str(b)})
    if a > b:
        with pytest.raises(RecipeInvalid):
            parse_document(data)
        return
    [imported] = read_batchml(export_batchml(parse_document(data), version="1"))
    assert isinstance(spec := imported.recipe.unit_procedures[0].operations[0].phases[0].params, Sample)
    assert (spec.specifications[0].low, spec.specifications[0].high) == (a, b)


def test_declared_specifications_survive_the_authoring_yaml_the_review_diff_reads() -> None:
    recipe = parse_document(DOCUMENT)
    text = to_yaml(recipe)
    assert "specifications:" in text
    assert parse_yaml(text) == recipe
