"""Property-based fuzzing of the one way in for recipe files (``recipes.reading.read_recipes``).

Three kinds of malformed input, each from the example recipes and BatchML documents
(ours and the third-party ones): raw byte mutations, structured mutations of the
YAML document, structured mutations of the XML tree. For every input the reader
either accepts it or refuses it with ``RecipeInvalid`` (a clean error); anything
else (a traceback) fails. Every accepted input goes through export and import again
and must come back the same.

A few hundred examples per run; ``EBR_FUZZ_EXAMPLES=20000`` for a nightly run.
"""

from __future__ import annotations

import copy
import os
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from recipes.authoring import RecipeInvalid, parse_yaml, to_yaml
from recipes.batchml import export_batchml
from recipes.batchml_import import read_batchml
from recipes.reading import read_recipes
from tests.unit.recipes.helpers import LIQUID, SOLID, example, example_document, example_text

EXAMPLES = int(os.environ.get("EBR_FUZZ_EXAMPLES", "120"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DATA = Path(__file__).parents[2] / "data" / "batchml"

NASTY_TEXT = [
    "", " ", "\x00", "\x1b[31m", "\uffff", "\ud800", "Â°C", "mℓ", "furlong", "🧪", "x" * 5000, "<b>&amp;</b>",
    "{param: nowhere}", "0x10", "1_000", "١٠٠٠", "1e400", ".inf", "NaN", "-0", "-1", "9" * 40, "${HOME}",
    "../../etc/passwd", "TRUE", "PH1 == 'x'", "__import__('os')", "kg", "L/min", "°C", "%",
]  # fmt: skip
NASTY_VALUES: list[Any] = [
    *NASTY_TEXT, None, True, 0, -5, 10**40, Decimal("-1.5"), Decimal("1E+400"), [], [1], {}, {"param": 3},
    [{"a": 1}], {"param": "charge"},
]  # fmt: skip


@cache
def seeds() -> dict[str, bytes]:
    """The inputs the mutations start from."""
    return {
        "liquid.yaml": example_text(LIQUID).encode("utf-8"),
        "solid.yaml": example_text(SOLID).encode("utf-8"),
        "liquid-v0701.xml": export_batchml(example(LIQUID), version="1"),
        "third-party-v02.xml": (DATA / "third-party-v02.xml").read_bytes(),
        "third-party-v0701.xml": (DATA / "third-party-v0701.xml").read_bytes(),
    }


def accepted_or_refused_cleanly(data: bytes, source: str) -> None:
    """The property: a clean refusal, or recipes that survive export and import unchanged."""
    try:
        found = read_recipes(data, source=source)
    except RecipeInvalid as exc:
        refusal = str(exc)
    else:
        refusal = ""
    if refusal:
        assert refusal.splitlines()[0].startswith(source), "a refusal names the file first"
        return
    for recipe, _format, _unmapped in found:
        exported = export_batchml(recipe, version="1")
        [again] = read_batchml(exported, source="again")
        assert again.recipe == recipe
        assert again.unmapped == ()
        assert parse_yaml(to_yaml(recipe)) == recipe


# -- raw bytes ------------------------------------------------------------------------------

MUTATION = st.tuples(
    st.sampled_from(["flip", "insert", "delete", "duplicate", "truncate"]),
    st.floats(min_value=0, max_value=1, allow_nan=False),
    st.binary(min_size=1, max_size=8),
)


def mutate_bytes(data: bytes, mutations: list[tuple[str, float, bytes]]) -> bytes:
    out = bytearray(data)
    for kind, where, payload in mutations:
        at = int(where * max(len(out) - 1, 0))
        if kind == "flip" and out:
            out[at] ^= payload[0] or 0x80
        elif kind == "insert":
            out[at:at] = payload
        elif kind == "delete":
            del out[at : at + len(payload) * 8]
        elif kind == "duplicate":
            out[at:at] = out[at : at + len(payload) * 16]
        elif kind == "truncate":
            del out[at:]
    return bytes(out)


@pytest.mark.requirement("URS-REC-007")
@FUZZ
@given(seed=st.sampled_from(sorted(seeds())), mutations=st.lists(MUTATION, min_size=1, max_size=4))
def test_raw_byte_mutations_are_accepted_or_refused_cleanly(seed: str, mutations: list[Any]) -> None:
    accepted_or_refused_cleanly(mutate_bytes(seeds()[seed], mutations), seed)


# -- the YAML document ------------------------------------------------------------------------


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for n, value in enumerate(node):
            out += _paths(value, (*prefix, n))
    return out


def _apply(document: Any, path: tuple[Any, ...], action: str, value: Any) -> Any:
    if not path:
        return value if action == "replace" else document
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    if action == "replace":
        parent[key] = value
    elif action == "delete":
        del parent[key]
    elif action == "duplicate" and isinstance(parent, list):
        parent.insert(key, copy.deepcopy(parent[key]))
    elif action == "rename" and isinstance(parent, dict):
        parent[str(value)[:40]] = parent.pop(key)
    return document


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@pytest.mark.requirement("URS-REC-007")
@FUZZ
@given(
    name=st.sampled_from([LIQUID, SOLID]),
    picks=st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=1, allow_nan=False),
            st.sampled_from(["replace", "replace", "delete", "duplicate", "rename"]),
            st.sampled_from(NASTY_VALUES),
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_structured_mutations_of_a_yaml_recipe_are_accepted_or_refused_cleanly(name: str, picks: list[Any]) -> None:
    document: Any = example_document(name)
    for where, action, value in picks:
        paths = _paths(document)
        document = _apply(document, paths[int(where * (len(paths) - 1))], action, copy.deepcopy(value))
    try:
        text = yaml.safe_dump(_plain(document), allow_unicode=True, sort_keys=False)
    except yaml.YAMLError:
        return  # not representable as YAML (a lone surrogate): nothing to read
    accepted_or_refused_cleanly(text.encode("utf-8", errors="surrogatepass"), name)


# -- the XML tree -----------------------------------------------------------------------------


@pytest.mark.requirement("URS-REC-007")
@FUZZ
@given(
    seed=st.sampled_from(["liquid-v0701.xml", "third-party-v02.xml", "third-party-v0701.xml"]),
    picks=st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=1, allow_nan=False),
            st.sampled_from(["text", "text", "delete", "duplicate", "move", "rename"]),
            st.sampled_from(NASTY_TEXT),
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_structured_mutations_of_a_batchml_document_are_accepted_or_refused_cleanly(
    seed: str, picks: list[Any]
) -> None:
    root = etree.fromstring(seeds()[seed])
    for where, action, value in picks:
        elements = list(root.iter())
        element = elements[int(where * (len(elements) - 1))]
        parent = element.getparent()
        if action == "text":
            try:
                element.text = value
            except ValueError:
                element.text = "not XML text"  # lxml refuses control characters itself
        elif parent is not None and action == "delete":
            parent.remove(element)
        elif parent is not None and action == "duplicate":
            parent.insert(parent.index(element), copy.deepcopy(element))
        elif parent is not None and action == "move":
            target = elements[len(elements) // 3]
            if target is not element and element not in list(target.iterancestors()):
                target.append(element)
        elif action == "rename" and value.isidentifier():
            element.tag = f"{{{etree.QName(element).namespace}}}{value}"
    accepted_or_refused_cleanly(etree.tostring(root, xml_declaration=True, encoding="UTF-8"), seed)
