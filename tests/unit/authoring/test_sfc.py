"""The procedure chart: steps, transitions with conditions, parallel branches, highlighted current steps."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.recipe_sfc import generated
from ebr.authoring import sfc
from ebr.core.errors import ValidationError
from ebr.integration.tokens import expand_scopes
from recipes.authoring import parse_yaml
from tests.unit.recipes.helpers import LIQUID, SOLID, example_text


@pytest.mark.requirement("URS-REC-021")
def test_the_chart_has_every_step_the_conditions_and_the_current_steps_highlighted() -> None:
    recipe = parse_yaml(example_text(LIQUID))
    source = sfc.draw(recipe, active={"UP1.OP2.PH1"}, done={"UP1.OP1.PH1"}).source
    for path, phase in recipe.phases():
        assert phase.name in source, path
    assert 'xlabel="PH6 == \\"clear\\""' in source
    assert f'fillcolor="{sfc.ACTIVE}"' in source
    assert f'fillcolor="{sfc.DONE}"' in source
    assert "peripheries=2" in source  # the initial step
    svg = sfc.svg(recipe)
    assert svg.startswith("<svg")
    assert "<script" not in svg


def test_a_parallel_split_and_join_are_double_bars() -> None:
    source = sfc.draw(generated(10)).source
    assert source.count('color="black:white:black"') == 2
    assert example_text(SOLID)  # the second example draws as well
    assert sfc.svg(parse_yaml(example_text(SOLID))).startswith("<svg")


def test_names_with_markup_are_escaped_in_the_picture() -> None:
    text = example_text(LIQUID).replace("name: Reactor ready", 'name: "<script>alert(1)</script> & ready"')
    svg = sfc.svg(parse_yaml(text))
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(max_size=20), max_size=4))
def test_token_scopes_are_actions_or_groups_and_never_sign(scopes: list[str]) -> None:
    try:
        actions = expand_scopes(scopes)
    except ValidationError as exc:
        problems = exc.problems
        assert problems
    else:
        assert actions
        assert not any(a.startswith("sign.") for a in actions)
