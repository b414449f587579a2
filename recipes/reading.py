"""One way in for a recipe file: bytes → YAML or BatchML → checked recipes (pure).

Used by the import service and by ``ebr recipe validate`` alike, so that what
validates is exactly what imports. The bytes pass ``ebr.core.inputs`` (size, encoding,
control characters, strict YAML, hardened XML) before anything else reads them.
"""

from __future__ import annotations

import dataclasses

from marshmallow import ValidationError as SchemaError

from ebr.core import inputs
from ebr.core.inputs import DEFAULT, Limits
from recipes.authoring import RecipeInvalid, parse_yaml
from recipes.batchml_import import read_batchml
from recipes.model import Recipe
from recipes.schema import RECIPE_NAME

Found = tuple[Recipe, str, list[str]]
"""A recipe read from a file, the file's format, and the lines of what was not mapped."""


def read_recipes(data: bytes | str, *, source: str, limits: Limits = DEFAULT, name: str | None = None) -> list[Found]:
    """Every recipe in ``data`` (YAML or BatchML); raises ``RecipeInvalid`` (nothing half-read).

    ``name`` renames the recipe (``--name`` at import); a file with several recipes
    cannot take one name.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        inputs.check_size(raw, source, limits=limits)
    except inputs.InputError as exc:
        raise RecipeInvalid(str(exc)) from None
    if inputs.is_xml(raw):
        found = [(i.recipe, i.format, list(i.unmapped)) for i in read_batchml(raw, source=source, limits=limits)]
    else:
        found = [(parse_yaml(raw, source=source, limits=limits), "yaml", [])]
    if name is None:
        return found
    if len(found) != 1:
        raise RecipeInvalid(f"{source}: --name: the file holds {len(found)} recipes; import them one by one")
    try:
        RECIPE_NAME(name)
    except SchemaError:
        raise RecipeInvalid(
            f"{source}: --name {name!r}: not a recipe name (letters, digits, _ . -; no spaces or @)"
        ) from None
    recipe, fmt, unmapped = found[0]
    return [(dataclasses.replace(recipe, name=name), fmt, unmapped)]
