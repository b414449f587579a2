"""The ideal time of a phase, from the recipe's own parameters (pure).

* dosing: target ÷ rate (``rate_unit`` per s, min or h) — the rate the recipe asks for;
* timed hold: the minimum duration the recipe states;
* any other phase type: ``ideal_seconds`` of its type in the performance file;
* nothing stated: None (the phase's actual time counts as ideal: performance 100 %).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction

from recipes.model import Recipe
from recipes.phases import Dosing, TimedHold

PER = {"s": 1, "sec": 1, "second": 1, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


def _per(unit: str | None) -> int | None:
    if not unit:
        return None
    return PER.get(unit.rsplit("/", 1)[-1].strip().lower())


def phase_seconds(recipe: Recipe, path: str, defaults: Mapping[str, Decimal]) -> Fraction | None:
    """The ideal seconds of the phase at ``path`` of ``recipe`` (None: not stated)."""
    try:
        phase = recipe.phase(path)
    except KeyError:
        return None
    params = phase.params
    try:
        if isinstance(params, Dosing) and params.rate is not None:
            per = _per(params.rate_unit)
            rate = recipe.value(params.rate)
            if per is not None and rate > 0:
                return Fraction(recipe.value(params.target)) / Fraction(rate) * per
        if isinstance(params, TimedHold):
            per = _per(params.unit)
            if per is not None:
                return Fraction(recipe.value(params.min_duration)) * per
    except KeyError:
        return None
    default = defaults.get(str(phase.type.value))
    return None if default is None else Fraction(default)


def recipe_seconds(recipe: Recipe, defaults: Mapping[str, Decimal]) -> dict[str, Fraction | None]:
    """The ideal seconds of every phase of ``recipe`` by path."""
    return {path: phase_seconds(recipe, path, defaults) for path, _ in recipe.phases()}
