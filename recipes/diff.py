"""A readable difference between two recipes (pure).

Both recipes are written in the YAML authoring form with each value on its own
line, then compared line by line, so a reviewer reads "target: 750.0 → 780.0"
in the context of the phase it belongs to.
"""

from __future__ import annotations

import difflib

from recipes.authoring import to_yaml
from recipes.model import Recipe


def _lines(recipe: Recipe) -> list[str]:
    return to_yaml(recipe, width=10_000).splitlines(keepends=True)


def diff_recipes(a: Recipe, b: Recipe, *, label_a: str = "a", label_b: str = "b", context: int = 4) -> str:
    """Unified diff of ``a`` and ``b`` in the authoring form; empty when they are equal."""
    return "".join(difflib.unified_diff(_lines(a), _lines(b), fromfile=label_a, tofile=label_b, n=context))
