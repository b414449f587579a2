"""The performance file: what it accepts, and every refusal as ``file:line: problem``."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ebr.core.errors import ValidationError
from ebr.performance.config import DEFAULT_REASONS, PerformanceConfig, parse

GOOD = b"""\
timezone: Europe/Berlin
stop_threshold_minutes: 2.5
shifts:
  - {name: early, start: "06:00", end: "14:00", days: [mon, tue, wed, thu, fri]}
  - {name: night, start: "22:00", end: "06:00"}
ideal_seconds: {instruction: 60}
areas:
  Formulation:
    reasons:
      Mechanical:
        Agitator: null
        Pump seal: null
      Material: {Late delivery: null}
"""


def test_a_good_file_gives_shifts_threshold_ideal_times_and_the_reason_tree() -> None:
    config = parse(GOOD, "performance.yaml")
    assert config.timezone == "Europe/Berlin"
    assert config.stop_threshold == dt.timedelta(seconds=150)
    assert [(s.name, s.start, s.end) for s in config.shifts] == [
        ("early", dt.time(6), dt.time(14)),
        ("night", dt.time(22), dt.time(6)),
    ]
    assert config.children("Formulation", "") == ["Mechanical", "Material"]
    assert config.children("Formulation", "Mechanical") == ["Agitator", "Pump seal"]
    assert config.is_leaf("Formulation", "Mechanical / Pump seal")
    assert not config.is_leaf("Formulation", "Mechanical")
    assert config.tree("Packaging") == DEFAULT_REASONS  # an area the file does not name


@pytest.mark.requirement("URS-OEE-004")
@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (b"shifts:\n  - {name: a, start: '6:00', end: '14:00'}\n", "performance.yaml:2: start '6:00' is not a time"),
        (b"timezone: Mars/Olympus\n", "performance.yaml:1: timezone 'Mars/Olympus' is not an IANA time zone"),
        (b"stop_threshold_minutes: -1\n", "performance.yaml:1: stop_threshold_minutes -1 must be minutes"),
        (b"colour: red\n", "performance.yaml:1: unknown key 'colour'"),
        (
            b"shifts:\n  - {name: a, start: '06:00', end: '14:00'}\n  - {name: b, start: '13:00', end: '20:00'}\n",
            "performance.yaml:3: shift 'b' overlaps shift 'a'",
        ),
        (
            b"areas:\n  F:\n    reasons:\n      A:\n        B: 3\n",
            "performance.yaml:5: reason 'B': sub-reasons must be",
        ),
        (b"areas:\n  F: {}\n", "performance.yaml:2: area 'F' needs reasons"),
        (b"ideal_seconds:\n  dosing: 0\n", "performance.yaml:2: ideal_seconds.dosing 0 must be a positive number"),
    ],
)
def test_each_problem_is_refused_with_its_file_and_line(text: bytes, problem: str) -> None:
    with pytest.raises(ValidationError) as refused:
        parse(text, "performance.yaml")
    assert any(p.startswith(problem) for p in refused.value.problems), refused.value.problems


def test_a_duplicate_key_is_refused_by_the_input_boundary() -> None:
    with pytest.raises(ValidationError, match=r"performance.yaml: line 2, column 1: duplicate key"):
        parse(b"timezone: UTC\ntimezone: UTC\n", "performance.yaml")


def test_an_empty_file_means_the_defaults() -> None:
    assert parse(b"", "performance.yaml").shifts == PerformanceConfig().shifts


def _refusal(data: bytes, source: str) -> list[str] | None:
    """None when ``data`` parses, else the message's first line and each problem."""
    try:
        parse(data, source)
    except ValidationError as exc:
        return [str(exc).splitlines()[0], *exc.problems]
    return None


@given(st.binary(max_size=300))
def test_any_bytes_parse_or_are_refused_in_one_clear_line(data: bytes) -> None:
    problems = _refusal(data, "performance.yaml")
    assert problems is None or all(p.startswith("performance.yaml") for p in problems)


documents = st.recursive(
    st.none() | st.text(max_size=5) | st.integers(),
    lambda c: st.dictionaries(st.text(max_size=5), c, max_size=3) | st.lists(c, max_size=3),
    max_leaves=12,
)


@given(documents)
def test_any_yaml_document_parses_or_is_refused_with_a_line(doc: object) -> None:
    import yaml

    text = yaml.safe_dump({"areas": {"F": {"reasons": doc}}, "shifts": doc}).encode()
    problems = _refusal(text, "p.yaml")
    assert problems is None or all(p.startswith("p.yaml") for p in problems)
