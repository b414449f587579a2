"""Canonical JSON: the spec's vectors and properties of RFC 8785."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from ebr.core.canonical import canon, content_hash, decimal_text, jsonable
from ebr.core.clock import to_rfc3339
from ebr.core.errors import ValidationError

VECTORS = Path(__file__).parents[2] / "data" / "spec-vectors" / "events.json"

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
    st.text(),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@pytest.mark.requirement("URS-AUD-003")
@pytest.mark.parametrize("vector", json.loads(VECTORS.read_text()), ids=lambda v: str(v["event"]["seq"]))
def test_the_spec_vectors_canonicalize_and_hash_exactly(vector: dict[str, object]) -> None:
    assert canon(vector["event"]).decode() == vector["canonical"]
    assert content_hash(vector["event"]) == vector["hash"]


@given(json_values)
def test_canonical_bytes_parse_back_to_the_same_value(value: object) -> None:
    assert json.loads(canon(value)) == value


@given(st.dictionaries(st.text(), json_scalars, max_size=6))
def test_key_order_does_not_change_the_bytes(value: dict[str, object]) -> None:
    reordered = dict(reversed(list(value.items())))
    assert canon(reordered) == canon(value)


@given(st.text(alphabet=st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF), min_size=1))
def test_non_bmp_characters_are_written_as_utf8_not_escaped(text: str) -> None:
    assert canon(text) == b'"' + text.encode("utf-8") + b'"'


def test_keys_sort_by_utf16_code_units_as_rfc8785_requires() -> None:
    # U+1F600 is D83D DE00 in UTF-16 and sorts before U+FB01 (FB01) there.
    assert canon({"\ufb01": 1, "\U0001f600": 2}) == '{"\U0001f600":2,"\ufb01":1}'.encode()


@pytest.mark.requirement("URS-SYS-002")
@given(st.floats(allow_nan=False))
def test_floats_are_refused_in_hashed_content(number: float) -> None:
    with pytest.raises(ValidationError, match="float"):
        canon({"value": number})


@pytest.mark.parametrize("number", [2**53, -(2**53), 10**30])
def test_integers_beyond_two_to_the_53_are_refused(number: int) -> None:
    with pytest.raises(ValidationError, match="2\\^53"):
        canon([number])


def test_decimals_keep_their_significant_digits_in_plain_notation() -> None:
    assert decimal_text(Decimal("12.500")) == "12.500"
    assert decimal_text(Decimal("1.250E+1")) == "12.50"
    assert decimal_text(Decimal("1E-7")) == "0.0000001"


def test_jsonable_turns_decimals_and_aware_times_into_strings() -> None:
    moment = dt.datetime(2026, 11, 24, 20, 15, 59, 123456, tzinfo=dt.UTC)
    assert jsonable({"q": Decimal("250.0"), "at": moment}) == {"q": "250.0", "at": "2026-11-24T20:15:59.123456Z"}


def test_naive_datetimes_cannot_be_made_canonical() -> None:
    with pytest.raises(ValueError, match="naive"):
        jsonable(dt.datetime(2026, 1, 1))  # noqa: DTZ001 - the naive value is the point of the test


@given(st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1))
def test_every_safe_integer_is_written_exactly(number: int) -> None:
    assert canon({"n": number}) == b'{"n":' + str(number).encode() + b"}"


@given(st.integers(min_value=2**53) | st.integers(max_value=-(2**53)))
def test_every_unsafe_integer_is_refused(number: int) -> None:
    with pytest.raises(ValidationError, match="2\\^53"):
        canon({"deep": [{"n": number}]})


@given(st.integers(min_value=1, max_value=300), json_scalars)
def test_deeply_nested_values_round_trip(depth: int, leaf: object) -> None:
    value: object = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    assert json.loads(canon(value)) == value


@given(st.dictionaries(st.text(), json_values, max_size=5))
def test_the_same_value_always_gives_the_same_hash(value: dict[str, object]) -> None:
    assert content_hash(json.loads(canon(value))) == content_hash(value)


_any_text = st.text(alphabet=st.characters(blacklist_categories=[]), max_size=8) | st.sampled_from(
    ["\ud800", "\udfff", "\ue000", "\uffff", "\U0001f600", '\x00\x1f\x7f"\\\b\f\n\r\t', "\u2028\u2029", "é", "字"]
)
_any_scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1), _any_text)
_any_values = st.recursive(
    _any_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(_any_text, children, max_size=5)
    ),
    max_leaves=30,
)


@pytest.mark.requirement("URS-AUD-003")
@given(_any_values)
def test_canonical_bytes_are_exactly_those_of_the_rfc8785_package(value: object) -> None:
    """The fast writer and the reference implementation agree byte for byte (or both refuse)."""
    try:
        expected: bytes | type[Exception] = rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, UnicodeEncodeError) as exc:  # lone surrogates
        expected = type(exc)
    if isinstance(expected, bytes):
        assert canon(value) == expected
    else:
        with pytest.raises(expected):
            canon(value)


def _reference_jsonable(value: object) -> object:
    """jsonable's definition, one isinstance after the other (the shape before its fast paths)."""
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, dt.datetime):
        return to_rfc3339(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _reference_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_reference_jsonable(v) for v in value]
    return value


_odd_leaves = st.one_of(
    json_scalars,
    st.floats(allow_nan=False),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.datetimes(timezones=st.just(dt.UTC)),
    st.dates(),
)
_odd_values = st.recursive(
    _odd_leaves,
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.one_of(st.text(max_size=4), st.integers(), st.booleans()), children, max_size=4)
        | st.dictionaries(st.text(max_size=4), children, max_size=3).map(MappingProxyType)
    ),
    max_leaves=25,
)


@given(_odd_values)
def test_jsonable_gives_what_its_plain_definition_gives(value: object) -> None:
    assert jsonable(value) == _reference_jsonable(value)
