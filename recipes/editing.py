"""Form edits of a draft recipe (pure): texts, limits, parameters and materials.

An edit is a field name and its new text, as a browser form sends it:

=========================================  =====================================================
``title``, ``description``                 the recipe's texts
``param.<name>.<field>``                   a formula parameter: value, low, high, unit, description
``material.<code>.<field>``                a material line: name, quantity, tolerance
``phase.<UP.OP.PH>.<field>``               a phase: name, instructions, and its own texts and
                                           limits (text, prompt, target, low, high) where it has them
=========================================  =====================================================

The structure (steps, transitions, types) is not edited here: it stays in YAML,
uploaded as a new draft. :func:`apply_edits` returns the edited recipe after the full
validation of an import, or raises ``RecipeInvalid`` naming every problem with its field.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from recipes.authoring import RecipeInvalid, parse_document
from recipes.model import Recipe

TEXTS = ("title", "description")
PARAM_FIELDS = {"value": "number", "low": "limit", "high": "limit", "unit": "text", "description": "text"}
MATERIAL_FIELDS = {"name": "text", "quantity": "number", "tolerance": "number"}
PHASE_FIELDS = {
    "name": "text",
    "instructions": "text",
    "text": "text",
    "prompt": "text",
    "target": "limit",
    "low": "limit",
    "high": "limit",
}
MAX_TEXT = 4000


def _value(kind: str, raw: str, field: str) -> tuple[Any, str | None]:
    """The stored form of ``raw`` for a field of ``kind``, or a problem."""
    text = raw.strip()
    if kind == "text":
        if len(raw) > MAX_TEXT or not all(c.isprintable() or c in "\n\r\t" for c in raw):
            return None, f"{field}: at most {MAX_TEXT} printable characters"
        return text, None
    if kind == "limit" and text == "":
        return None, None
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None, f"{field}: {raw[:40]!r} is not a number; write e.g. 12.5"
    if not number.is_finite() or abs(number.adjusted()) > 15:
        return None, f"{field}: {raw[:40]!r} is not a plant quantity; write e.g. 12.5"
    return str(number), None


def _phases(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{up['id']}.{op['id']}.{ph['id']}": ph
        for up in document.get("unit_procedures", [])
        for op in up.get("operations", [])
        for ph in op.get("phases", [])
    }


def _target(document: dict[str, Any], key: str) -> tuple[dict[str, Any] | None, str, str | None]:
    """The dict an edit ``key`` changes, the field in it and its kind (or None: unknown)."""
    if key in TEXTS:
        return document, key, "text"
    kind_of, _, rest = key.partition(".")
    owner, _, name = rest.rpartition(".")
    if kind_of == "param":
        found = next((p for p in document["formula"]["parameters"] if p["name"] == owner), None)
        return found, name, PARAM_FIELDS.get(name)
    if kind_of == "material":
        found = next((m for m in document["bill_of_materials"]["materials"] if m["code"] == owner), None)
        return found, name, MATERIAL_FIELDS.get(name)
    if kind_of == "phase":
        phase = _phases(document).get(owner)
        if phase is None or (name not in ("name", "instructions") and name not in phase):
            return None, name, None
        if isinstance(phase.get(name), dict):  # a reference to a parameter ({param: …}): edit the parameter
            return None, name, None
        return phase, name, PHASE_FIELDS.get(name)
    return None, key, None


def apply_edits(recipe: Recipe, edits: Mapping[str, str]) -> Recipe:
    """``recipe`` with ``edits`` applied and validated in full; raises RecipeInvalid listing each problem."""
    document = copy.deepcopy(recipe.to_dict())
    problems: list[str] = []
    for key, raw in edits.items():
        target, field, kind = _target(document, key)
        if target is None or kind is None:
            problems.append(f"{key}: not a field that can be edited in the form; change the structure in YAML")
            continue
        value, problem = _value(kind, raw, key)
        if problem:
            problems.append(problem)
        else:
            target[field] = value
    if problems:
        raise RecipeInvalid(f"recipe {recipe.name}: the edits were not applied", problems)
    return parse_document(document, source=f"edit of {recipe.name}")


def editable(recipe: Recipe) -> dict[str, str]:
    """Every editable field of ``recipe`` with its current text (what the form shows)."""
    document = recipe.to_dict()
    fields: dict[str, str] = {key: str(document.get(key) or "") for key in TEXTS}
    for p in document["formula"]["parameters"]:
        for name in PARAM_FIELDS:
            fields[f"param.{p['name']}.{name}"] = "" if p.get(name) is None else str(p[name])
    for m in document["bill_of_materials"]["materials"]:
        for name in MATERIAL_FIELDS:
            fields[f"material.{m['code']}.{name}"] = "" if m.get(name) is None else str(m[name])
    for path, ph in _phases(document).items():
        for name in PHASE_FIELDS:
            if name in ("name", "instructions") or (name in ph and not isinstance(ph[name], dict | list)):
                fields[f"phase.{path}.{name}"] = "" if ph.get(name) is None else str(ph[name])
    return fields
