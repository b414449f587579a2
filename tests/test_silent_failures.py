"""No failure goes quiet: the product code has no ``suppress(Exception)`` nor an empty broad handler.

Scans the AST of every product package. A broad handler (bare ``except:``,
``except Exception`` / ``BaseException``, alone or in a tuple) whose body does nothing
(``pass``, ``...``, ``continue``) hides the failure from logs and metrics; so does
``contextlib.suppress`` of a broad exception. Narrow suppressions (``suppress(OSError)``
around a best-effort close) are fine and stay allowed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PRODUCT = ("ebr", "audit", "signatures", "recipes", "equipment", "validation", "migrations")
BROAD = {"Exception", "BaseException"}


def _names(node: ast.expr | None) -> set[str]:
    """The exception class names an ``except`` clause or ``suppress(...)`` argument names."""
    if node is None:
        return {"BaseException"}  # a bare ``except:``
    if isinstance(node, ast.Tuple):
        return {name for element in node.elts for name in _names(element)}
    if isinstance(node, ast.Name):
        return {node.id}
    if isinstance(node, ast.Attribute):
        return {node.attr}
    return set()


def _does_nothing(body: list[ast.stmt]) -> bool:
    def empty(statement: ast.stmt) -> bool:
        if isinstance(statement, ast.Pass | ast.Continue):
            return True
        return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)

    return all(empty(statement) for statement in body)


def quiet_failures(source: str, filename: str = "<source>") -> list[str]:
    """``file:line what`` for every broad suppression and empty broad handler in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.ExceptHandler) and _names(node.type) & BROAD and _does_nothing(node.body):
            found.append(f"{filename}:{node.lineno} an empty `except {ast.unparse(node.type or ast.Name('')) or ''}`")
        if isinstance(node, ast.Call) and _names(node.func) == {"suppress"}:
            broad = {name for argument in node.args for name in _names(argument)} & BROAD
            if broad:
                found.append(f"{filename}:{node.lineno} suppress({', '.join(sorted(broad))})")
    return found


@pytest.mark.requirement("URS-SYS-020")
def test_no_product_module_suppresses_every_exception() -> None:
    found = [
        hit
        for package in PRODUCT
        for path in sorted((ROOT / package).rglob("*.py"))
        for hit in quiet_failures(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]
    assert not found, "failures that go quiet (log, count and re-raise or retry instead):\n" + "\n".join(found)


@pytest.mark.parametrize(
    "source",
    [
        "with contextlib.suppress(Exception):\n    f()",
        "with suppress(ValueError, BaseException):\n    f()",
        "try:\n    f()\nexcept Exception:\n    pass",
        "try:\n    f()\nexcept:\n    ...",
        "for x in y:\n    try:\n        f()\n    except (OSError, Exception):\n        continue",
    ],
)
def test_the_scan_finds_each_way_of_swallowing_an_error(source: str) -> None:
    assert len(quiet_failures(source)) == 1


@pytest.mark.parametrize(
    "source",
    [
        "with contextlib.suppress(OSError):\n    f()",
        "try:\n    f()\nexcept Exception:\n    log.exception('x')",
        "try:\n    f()\nexcept asyncio.CancelledError:\n    pass",
        "try:\n    f()\nexcept Exception:\n    raise",
    ],
)
def test_the_scan_lets_narrow_or_handled_errors_pass(source: str) -> None:
    assert quiet_failures(source) == []
