"""Safe expressions for calculation phases and transition conditions (pure; never ``eval``).

An expression is parsed with :mod:`ast` and every node is checked against a
whitelist; evaluation walks the tree with ``Decimal`` arithmetic (number literals
are read from their source text, so ``0.1`` is exactly one tenth).

Allowed: decimal and string literals, ``True``/``False``, names and dotted names
(``UP1.OP2.PH3`` or ``PH3``: results of earlier phases; ``api_assay``: formula
parameters), ``+ - * / // % **`` (integral exponents up to 12), unary ``- + not``,
comparisons (chained too), ``and``/``or``, ``x if c else y`` and the functions
``min``, ``max``, ``abs``, ``round(x, places)`` and ``sqrt``.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, DivisionByZero, InvalidOperation
from typing import Any

from ebr.core.errors import RecipeError

MAX_LENGTH = 500
MAX_EXPONENT = 12

Value = Decimal | str | bool


class ExpressionError(RecipeError):
    """An expression is malformed, uses something not allowed, or cannot be evaluated."""


_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}


def _round(value: Decimal, places: Decimal = Decimal(0)) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-int(places)), rounding=ROUND_HALF_UP)


_FUNCTIONS: dict[str, Callable[..., Decimal]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "round": _round,
    "sqrt": lambda x: x.sqrt(),
}


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


@dataclass(frozen=True)
class Expression:
    """A parsed, whitelisted expression; ``names`` are the variables it reads."""

    source: str
    tree: ast.expr
    names: frozenset[str]

    def evaluate(self, env: Mapping[str, Value]) -> Value:
        """The value of the expression with ``env``'s variables; raises :class:`ExpressionError`."""
        try:
            result: Value = _Evaluator(self.source, env).visit(self.tree)
        except (ArithmeticError, InvalidOperation, DivisionByZero, TypeError) as exc:
            raise ExpressionError(f"cannot evaluate {self.source!r}: {type(exc).__name__} {exc}".strip()) from exc
        return result


def parse(source: str) -> Expression:
    """Parse and check ``source``; raises :class:`ExpressionError` saying what is not allowed."""
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("an expression must be a non-empty string")
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters; split it into calculations")
    try:
        tree = ast.parse(source.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ExpressionError(f"{source!r} is not a valid expression: {exc.msg}") from None
    names: set[str] = set()
    _check(tree, names)
    return Expression(source.strip(), tree, frozenset(names))


def evaluate(source: str, env: Mapping[str, Value]) -> Value:
    """Parse and evaluate ``source`` in one call."""
    return parse(source).evaluate(env)


def _check(node: ast.AST, names: set[str]) -> None:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool | int | float | str) and not isinstance(node.value, complex):
            return
        raise ExpressionError(f"literal {node.value!r} is not allowed")
    if isinstance(node, ast.Name | ast.Attribute):
        dotted = _dotted(node)
        if dotted is None:
            raise ExpressionError("only plain and dotted names (UP1.OP2.PH3) are allowed")
        if any(part.startswith("_") for part in dotted.split(".")):
            raise ExpressionError(f"name {dotted!r} is not allowed")
        if dotted not in ("True", "False"):
            names.add(dotted)
        return
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        children: list[ast.AST] = [node.left, node.right]
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd | ast.Not):
        children = [node.operand]
    elif isinstance(node, ast.BoolOp):
        children = list(node.values)
    elif isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
        children = [node.left, *node.comparators]
    elif isinstance(node, ast.IfExp):
        children = [node.test, node.body, node.orelse]
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS:
        if node.keywords:
            raise ExpressionError(f"{node.func.id}() takes no keyword arguments")
        children = list(node.args)
    else:
        raise ExpressionError(f"{type(node).__name__} is not allowed in an expression ({ast.unparse(node)!r})")
    for child in children:
        _check(child, names)


class _Evaluator:
    def __init__(self, source: str, env: Mapping[str, Value]) -> None:
        self.source = source
        self.env = env

    def visit(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool | str):
                return node.value
            # Read the digits as written: Decimal(0.1) would carry the float's error.
            return Decimal(ast.get_source_segment(self.source, node) or str(node.value))
        if isinstance(node, ast.Name | ast.Attribute):
            return self._lookup(_dotted(node) or "")
        if isinstance(node, ast.BinOp):
            left, right = self.visit(node.left), self.visit(node.right)
            if isinstance(node.op, ast.Pow) and (right != right.to_integral_value() or abs(right) > MAX_EXPONENT):
                raise ExpressionError(f"exponent {right} in {self.source!r}: only whole exponents up to {MAX_EXPONENT}")
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp):
            operand = self.visit(node.operand)
            if isinstance(node.op, ast.Not):
                return not operand
            return -operand if isinstance(node.op, ast.USub) else +operand
        if isinstance(node, ast.BoolOp):
            return self._boolop(node)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.IfExp):
            return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            return _FUNCTIONS[node.func.id](*(self.visit(arg) for arg in node.args))
        raise ExpressionError(f"{type(node).__name__} is not allowed")  # unreachable after parse()

    def _lookup(self, name: str) -> Any:
        if name in ("True", "False"):
            return name == "True"
        if name not in self.env:
            raise ExpressionError(f"{self.source!r} reads {name!r}, which has no value yet")
        value = self.env[name]
        if isinstance(value, float):
            raise ExpressionError(f"{name} is a float; pass a Decimal")
        return value

    def _boolop(self, node: ast.BoolOp) -> bool:
        if isinstance(node.op, ast.And):
            return all(self.visit(v) for v in node.values)
        return any(self.visit(v) for v in node.values)

    def _compare(self, node: ast.Compare) -> bool:
        left = self.visit(node.left)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.visit(comparator)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
