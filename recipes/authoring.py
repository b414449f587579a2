"""Reading a recipe from its YAML authoring form: parse, validate, build the model.

Every problem is reported at once, each with its path in the document
(``unit_procedures[1].operations[0].phases[2].target: not a decimal``); a
recipe with any problem is refused whole. YAML numbers are read as ``Decimal``
from their text, so ``12.50`` keeps its digits and never passes through a float.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import yaml
from marshmallow import ValidationError as SchemaError

from ebr.core import inputs
from ebr.core.canonical import decimal_text
from ebr.core.errors import RecipeError, ValidationError
from ebr.core.inputs import DEFAULT, Limits
from recipes import checks, codec, graph
from recipes.model import Recipe, Transition
from recipes.schema import RecipeSchema


class RecipeInvalid(RecipeError, ValidationError):
    """A recipe document has problems; ``problems`` lists each one with its path."""


_Composer: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(data: str | bytes, *, source: str = "recipe", limits: Limits = DEFAULT, checked: bool = False) -> Any:
    """Parse YAML (``ebr.core.inputs``: strict, Decimals for numbers); raises :class:`RecipeInvalid` in one line."""
    try:
        return inputs.load_yaml(data, source, limits=limits, checked=checked)
    except inputs.InputError as exc:
        raise RecipeInvalid(str(exc)) from None


def flatten(messages: Any, path: str = "") -> list[str]:
    """Marshmallow's nested error dict as ``"a.b[2].c: message"`` lines."""
    if isinstance(messages, Mapping):
        lines: list[str] = []
        for key, value in messages.items():
            if isinstance(key, int):
                sub = f"{path}[{key}]"
            elif key == "_schema":
                sub = path
            else:
                sub = f"{path}.{key}" if path else str(key)
            lines.extend(flatten(value, sub))
        return lines
    if isinstance(messages, list | tuple):
        if all(isinstance(m, str) for m in messages):
            return [f"{path or '(document)'}: {_plain(m)}" for m in messages]
        return [line for m in messages for line in flatten(m, path)]
    return [f"{path or '(document)'}: {_plain(str(messages))}"]


def _plain(message: str) -> str:
    """Marshmallow's messages read like sentences; ours are lower-case fragments."""
    known = {
        "Missing data for required field.": "required",
        "Unknown field.": "unknown field (check the spelling)",
        "Field may not be null.": "may not be empty",
        "Not a valid string.": "not a text",
        "Not a valid boolean.": "not true/false",
        "Not a valid list.": "not a list",
        "Not a valid integer.": "not a whole number",
        "Invalid input type.": "not a mapping",
    }
    return known.get(message, message)


def _default_ids(data: dict[str, Any]) -> None:
    for u, up in enumerate(data.get("unit_procedures", []), start=1):
        up.setdefault("id", f"UP{u}")
        for o, op in enumerate(up.get("operations", []), start=1):
            op.setdefault("id", f"OP{o}")
            for p, phase in enumerate(op.get("phases", []), start=1):
                phase.setdefault("id", f"PH{p}")


def _raw_level(prefix: str, items: Any, transitions: Any, default: str) -> list[str]:
    if not isinstance(items, list) or not items or not isinstance(transitions, list):
        return []
    ids = [item.get("id", f"{default}{n}") if isinstance(item, Mapping) else "" for n, item in enumerate(items, 1)]
    if not all(isinstance(i, str) for i in ids):
        return []  # a wrong id is reported by the schema; the graph needs the ids
    parsed = []
    for t in transitions:
        ends = [t.get("from"), t.get("to")] if isinstance(t, Mapping) else [None, None]
        condition = t.get("when") if isinstance(t, Mapping) else None
        if not all(isinstance(e, list) and all(isinstance(x, str) for x in e) for e in ends):
            return []
        if not all(isinstance(i, str) for i in ids) or not isinstance(condition, str | None):
            return []
        parsed.append(Transition(tuple(ends[0] or ()), tuple(ends[1] or ()), condition))
    return graph.check_level(prefix, ids, parsed, lambda _expression: [])


def raw_graph_problems(data: Mapping[str, Any]) -> list[str]:
    """Graph problems (unknown or unreachable steps, endless loops) of a document that failed its schema."""
    ups = data.get("unit_procedures")
    problems = _raw_level("", ups, data.get("transitions", []), "UP")
    for i, up in enumerate(ups if isinstance(ups, list) else []):
        if not isinstance(up, Mapping):
            continue
        ops = up.get("operations")
        problems += _raw_level(f"unit_procedures[{i}].", ops, up.get("transitions", []), "OP")
        for j, op in enumerate(ops if isinstance(ops, list) else []):
            if isinstance(op, Mapping):
                where = f"unit_procedures[{i}].operations[{j}]."
                problems += _raw_level(where, op.get("phases"), op.get("transitions", []), "PH")
    return problems


def parse_document(data: Any, *, source: str = "recipe") -> Recipe:
    """Validate a loaded document and build the :class:`Recipe`; raises :class:`RecipeInvalid`."""
    if not isinstance(data, Mapping):
        raise RecipeInvalid(f"{source} must be a mapping of recipe fields", ["(document): not a mapping"])
    try:
        loaded: dict[str, Any] = RecipeSchema().load(dict(data))
    except SchemaError as exc:
        # The graph can be checked on the raw document even when some fields are wrong.
        problems = flatten(exc.messages) + raw_graph_problems(data)
        raise RecipeInvalid(f"{source} has {len(problems)} problem(s); nothing was imported", problems) from None
    _default_ids(loaded)
    recipe: Recipe = codec.decode_dataclass(Recipe, loaded)
    problems = checks.check(recipe)
    if problems:
        raise RecipeInvalid(f"{source} has {len(problems)} problem(s); nothing was imported", problems)
    return recipe


def parse_yaml(data: str | bytes, *, source: str = "recipe", limits: Limits = DEFAULT) -> Recipe:
    """Parse and validate YAML authoring text (or bytes) into a :class:`Recipe`; problems name their line."""
    text = data if isinstance(data, str) else _decode(data, source, limits)
    try:
        document = load_yaml(text, source=source, limits=limits, checked=not isinstance(data, str))
        return parse_document(document, source=source)
    except RecipeInvalid as exc:
        if not exc.problems or "line" in exc.summary:
            raise
        raise RecipeInvalid(exc.summary, _with_lines(text, exc.problems)) from None


def _decode(data: bytes, source: str, limits: Limits) -> str:
    try:
        return inputs.decode(data, source, limits=limits)
    except inputs.InputError as exc:
        raise RecipeInvalid(str(exc)) from None


_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _with_lines(text: str, problems: list[str]) -> list[str]:
    """``path: message`` → ``path (line N): message`` where the path is found in the YAML text."""
    root = yaml.compose(text, Loader=_Composer)
    out = []
    for problem in problems:
        path, sep, message = problem.partition(": ")
        node = _node_at(root, path)
        out.append(f"{path} (line {node.start_mark.line + 1}){sep}{message}" if node is not None and sep else problem)
    return out


def _node_at(node: yaml.Node | None, path: str) -> yaml.Node | None:
    """The deepest node of ``path`` that exists (a missing key points at its parent)."""
    for key, index in _STEP.findall(path):
        child: yaml.Node | None = None
        if key and isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
        elif index and isinstance(node, yaml.SequenceNode) and int(index) < len(node.value):
            child = node.value[int(index)]
        if child is None:
            return node
        node = child
    return node


class _Dumper(yaml.SafeDumper):
    """Writes Decimals as plain YAML numbers with their digits (``12.50``), never via float."""


def _represent_decimal(dumper: yaml.SafeDumper, value: Decimal) -> yaml.ScalarNode:
    text = decimal_text(value)
    tag = "tag:yaml.org,2002:int" if re.fullmatch(r"-?\d+", text) else "tag:yaml.org,2002:float"
    return dumper.represent_scalar(tag, text)


_Dumper.add_representer(Decimal, _represent_decimal)


def to_yaml(recipe: Recipe, *, width: int = 100) -> str:
    """The YAML authoring form of ``recipe`` (imports back to an equal recipe)."""
    document = codec.encode(recipe, decimal=lambda d: d, compact=True)
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=width)
