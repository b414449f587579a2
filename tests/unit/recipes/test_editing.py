"""Form edits of a draft (recipes.editing): applied and validated in full, or every problem named."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recipes.authoring import RecipeInvalid, parse_yaml
from recipes.diff import side_by_side
from recipes.editing import apply_edits, editable
from tests.unit.recipes.helpers import LIQUID, example_text

RECIPE = parse_yaml(example_text(LIQUID))
FIELDS = sorted(editable(RECIPE))


def test_texts_limits_parameters_and_materials_are_edited() -> None:
    edited = apply_edits(
        RECIPE,
        {
            "title": "New title",
            "param.water_charge.high": "765",
            "param.ph_target.low": "",
            "material.RM-PCM.quantity": "24.5",
            "phase.UP1.OP2.PH2.high": "31",
            "phase.UP1.OP1.PH3.text": "Clear the line.",
        },
    )
    assert edited.title == "New title"
    assert edited.formula.get("water_charge").high == Decimal("765")  # type: ignore[union-attr]
    assert edited.formula.get("ph_target").low is None  # type: ignore[union-attr]
    assert edited.bill_of_materials.get("RM-PCM").quantity == Decimal("24.5")  # type: ignore[union-attr]
    assert editable(edited)["phase.UP1.OP2.PH2.high"] == "31"
    assert [r.kind for r in side_by_side(RECIPE, edited)].count("changed") >= 5


def test_a_limit_that_breaks_the_recipe_is_refused_with_its_path() -> None:
    with pytest.raises(RecipeInvalid) as refused:
        apply_edits(RECIPE, {"param.water_charge.low": "800", "param.nope.value": "1", "phase.UP1.OP1.PH1.type": "x"})
    text = "\n".join(refused.value.problems)
    assert "param.nope.value" in text
    assert "phase.UP1.OP1.PH1.type" in text


@settings(max_examples=150, deadline=None)
@given(
    edits=st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=30)), st.text(max_size=60), max_size=5)
)
def test_any_form_input_gives_a_recipe_or_named_problems_never_a_crash(edits: dict[str, str]) -> None:
    try:
        edited = apply_edits(RECIPE, edits)
    except RecipeInvalid as exc:
        problems = exc.problems
        assert problems
    else:
        assert edited.name == RECIPE.name
