"""Safe expressions: exact decimal arithmetic, a whitelist, never eval."""

from __future__ import annotations

from decimal import Decimal

import pytest

from recipes.formula import ExpressionError, Value, evaluate, parse


def test_arithmetic_is_exact_decimal_arithmetic_on_the_digits_as_written() -> None:
    assert evaluate("0.1 + 0.2", {}) == Decimal("0.3")
    assert evaluate("a * 1.5 - b / 4", {"a": Decimal("2"), "b": Decimal("1")}) == Decimal("2.75")


def test_dotted_phase_paths_and_short_ids_are_names() -> None:
    expression = parse("UP1.OP2.PH3 + PH1 * factor")
    assert expression.names == {"UP1.OP2.PH3", "PH1", "factor"}
    env = {"UP1.OP2.PH3": Decimal(10), "PH1": Decimal(2), "factor": Decimal(3)}
    assert expression.evaluate(env) == Decimal(16)


def test_comparisons_boolean_logic_and_choices_evaluate_to_booleans() -> None:
    env: dict[str, Value] = {"PH2": Decimal("5.8"), "PH6": "hazy"}
    assert evaluate("PH2 > 5.5 and PH6 == 'hazy'", env) is True
    assert evaluate("4.5 <= PH2 <= 5.5", env) is False
    assert evaluate("not (PH6 == 'clear')", env) is True


def test_the_allowed_functions_compute_as_expected() -> None:
    env = {"x": Decimal("-2.345")}
    assert evaluate("max(0, x)", env) == Decimal(0)
    assert evaluate("abs(x)", env) == Decimal("2.345")
    assert evaluate("round(abs(x), 2)", env) == Decimal("2.35")
    assert evaluate("sqrt(16)", {}) == Decimal(4)
    assert evaluate("1 if x < 0 else 2", env) == Decimal(1)


@pytest.mark.requirement("URS-REC-002")
@pytest.mark.parametrize(
    "source",
    [
        "__import__('os').system('true')",
        "open('/etc/passwd')",
        "x.__class__",
        "[c for c in 'abc']",
        "lambda: 1",
        "x[0]",
        "{'a': 1}",
        "getattr(x, 'y')",
        "max(x, key=abs)",
        "(y := 2)",
        "f'{x}'",
    ],
)
def test_anything_outside_the_whitelist_is_refused_at_parse_time(source: str) -> None:
    with pytest.raises(ExpressionError):
        parse(source)


def test_huge_exponents_are_refused_instead_of_hanging() -> None:
    with pytest.raises(ExpressionError, match="exponent"):
        evaluate("9 ** 99999999", {})
    assert evaluate("2 ** 10", {}) == Decimal(1024)


def test_a_name_without_a_value_and_a_division_by_zero_are_clear_errors() -> None:
    with pytest.raises(ExpressionError, match="reads 'PH9', which has no value yet"):
        evaluate("PH9 + 1", {})
    with pytest.raises(ExpressionError, match="cannot evaluate"):
        evaluate("1 / x", {"x": Decimal(0)})


def test_floats_are_refused_as_values() -> None:
    with pytest.raises(ExpressionError, match="float"):
        evaluate("x + 1", {"x": 0.1})  # type: ignore[dict-item]


def test_syntax_errors_and_empty_or_overlong_expressions_are_refused() -> None:
    for bad in ("1 +", "", "   ", "1" + " + 1" * 200):
        with pytest.raises(ExpressionError):
            parse(bad)
