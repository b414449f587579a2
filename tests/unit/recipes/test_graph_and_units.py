"""The step graph helpers the engine reads, and unit arithmetic."""

from __future__ import annotations

from decimal import Decimal

import pytest

from recipes.graph import effective_transitions, initial_step
from recipes.model import Transition
from recipes.units import compatible, convert, default_precision, dimension


def test_a_level_without_transitions_runs_in_list_order() -> None:
    assert effective_transitions(["PH1", "PH2", "PH3"], []) == (
        Transition(("PH1",), ("PH2",)),
        Transition(("PH2",), ("PH3",)),
    )
    assert effective_transitions(["PH1"], []) == ()
    assert initial_step(["PH4", "PH1"]) == "PH4"


def test_explicit_transitions_are_used_as_written() -> None:
    explicit = [Transition(("UP1",), ("UP2", "UP3")), Transition(("UP2", "UP3"), ("UP4",))]
    assert effective_transitions(["UP1", "UP2", "UP3", "UP4"], explicit) == tuple(explicit)


def test_units_of_one_dimension_convert_exactly_and_others_refuse() -> None:
    assert convert(Decimal("1.250"), "kg", "g") == Decimal("1250.000")
    assert convert(Decimal(90), "min", "h") == Decimal("1.5")
    assert compatible("L", "mL")
    assert not compatible("L", "kg")
    with pytest.raises(ValueError, match="cannot convert kg to L"):
        convert(Decimal(1), "kg", "L")


def test_an_unknown_unit_is_compatible_only_with_itself() -> None:
    assert dimension("drums") == "unit:drums"
    assert compatible("drums", "drums")
    assert not compatible("drums", "pcs")
    assert default_precision("drums") == Decimal("0.001")
