"""A readable difference between two recipes (pure).

Both recipes are written in the YAML authoring form with each value on its own
line, then compared line by line, so a reviewer reads "target: 750.0 → 780.0"
in the context of the phase it belongs to.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from recipes.authoring import to_yaml
from recipes.model import Recipe


def _lines(recipe: Recipe) -> list[str]:
    return to_yaml(recipe, width=10_000).splitlines(keepends=True)


def diff_recipes(a: Recipe, b: Recipe, *, label_a: str = "a", label_b: str = "b", context: int = 4) -> str:
    """Unified diff of ``a`` and ``b`` in the authoring form; empty when they are equal."""
    return "".join(difflib.unified_diff(_lines(a), _lines(b), fromfile=label_a, tofile=label_b, n=context))


@dataclass(frozen=True)
class Row:
    """One row of a side-by-side diff: ``kind`` is same, changed, removed or added (line numbers from 1)."""

    kind: str
    left_no: int | None
    left: str
    right_no: int | None
    right: str


def side_by_side(a: Recipe, b: Recipe, *, context: int = 3) -> list[Row]:
    """The two recipes' authoring form side by side: changed lines paired, ``context`` same lines
    around each change (a row of kind ``gap`` stands for the lines left out)."""
    left = [line.rstrip("\n") for line in _lines(a)]
    right = [line.rstrip("\n") for line in _lines(b)]
    rows: list[Row] = []
    for group in difflib.SequenceMatcher(None, left, right, autojunk=False).get_grouped_opcodes(context):
        if rows:
            rows.append(Row("gap", None, "…", None, "…"))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                pairs = zip(range(i1, i2), range(j1, j2), strict=True)
                rows += [Row("same", i + 1, left[i], j + 1, right[j]) for i, j in pairs]
                continue
            for k in range(max(i2 - i1, j2 - j1)):
                i, j = i1 + k, j1 + k
                has_left, has_right = i < i2, j < j2
                kind = "changed" if has_left and has_right else "removed" if has_left else "added"
                rows.append(
                    Row(kind, i + 1 if has_left else None, left[i] if has_left else "",
                        j + 1 if has_right else None, right[j] if has_right else "")
                )  # fmt: skip
    return rows
