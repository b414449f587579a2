"""The LIMS result message (``ebr.lims.results/1``): what is accepted, and every refusal names a field."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ebr.integration.lims import FORMAT, MAX_BYTES, LimsRefused, parse

EXAMPLES = int(os.environ.get("EBR_FUZZ_EXAMPLES", "60"))


def body(**overrides: Any) -> bytes:
    data: dict[str, Any] = {"format": FORMAT, "message_id": "M-1", "sample_id": "S-1",
                            "results": [{"test": "pH", "value": "5.2", "unit": "pH"}]}  # fmt: skip
    data.update(overrides)
    return json.dumps(data).encode()


def refused(data: bytes) -> tuple[str, str]:
    with pytest.raises(LimsRefused) as caught:
        parse(data)
    return caught.value.field, caught.value.problem


@pytest.mark.requirement("URS-INT-005")
def test_a_good_message_and_numbers_kept_exactly() -> None:
    loaded = parse(body(results=[{"test": "assay", "value": 7, "extra": "ignored"}]))
    assert (loaded["sample_id"], loaded["message_id"]) == ("S-1", "M-1")
    assert loaded["results"] == [{"test": "assay", "value": "7", "unit": None, "analyst": None}]
    exact = parse(b'{"format": "%s", "sample_id": "S", "results": [{"test": "a", "value": 0.1000}]}' % FORMAT.encode())
    assert exact["results"][0]["value"] == "0.1000"
    assert Decimal(exact["results"][0]["value"]) == Decimal("0.1")


@pytest.mark.requirement("URS-INT-005")
@pytest.mark.parametrize(
    ("data", "field", "problem"),
    [
        (b"[1, 2]", "message", "must be a JSON object"),
        (b"{", "message", "not JSON"),
        (b"\xff", "message", "not UTF-8"),
        (body(format="ebr.lims.results/2"), "format", "must be 'ebr.lims.results/1'"),
        (body(sample_id=""), "sample_id", "Length must be between 1 and 100."),
        (body(results=[]), "results", "Length must be between 1 and 100."),
        (body(results=[{"value": "1"}]), "results[0].test", "Missing data for required field."),
        (body(results=[{"test": "pH", "value": True}]), "results[0].value", "Not a valid string."),
        (body(results=[{"test": "pH", "value": "1"}, {"test": "PH", "value": "2"}]), "results[1].test", "twice"),
        (b" " * (MAX_BYTES + 1), "message", "larger than"),
    ],
)
def test_refusals_name_the_field(data: bytes, field: str, problem: str) -> None:
    got_field, got_problem = refused(data)
    assert got_field == field
    assert problem in got_problem


def outcome(data: bytes) -> dict[str, Any] | LimsRefused:
    try:
        return parse(data)
    except LimsRefused as exc:
        return exc


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)


@pytest.mark.requirement("URS-INT-005")
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "format": st.sampled_from([FORMAT]) | JSONISH,
            "sample_id": JSONISH,
            "message_id": JSONISH,
            "results": st.lists(
                st.dictionaries(st.sampled_from(["test", "value", "unit", "analyst"]), JSONISH), max_size=3
            )
            | JSONISH,
        },
    )
)
def test_any_json_is_read_or_refused_with_a_field(data: dict[str, Any]) -> None:
    loaded = outcome(json.dumps(data).encode())
    if isinstance(loaded, LimsRefused):
        assert loaded.field
        assert loaded.problem
        return
    assert loaded["format"] == FORMAT
    assert loaded["sample_id"]
    assert loaded["results"]
    assert all(isinstance(r["value"], str) and r["value"] for r in loaded["results"])


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_are_read_or_refused(data: bytes) -> None:
    loaded = outcome(data)  # anything else than a refusal or a message fails the test
    if isinstance(loaded, LimsRefused):
        assert loaded.field
        assert loaded.problem
    else:
        assert loaded["results"]
