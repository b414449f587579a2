"""``python -m benchmarks NAME [ARGS]``: names are taken off, the rest goes to each benchmark."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from benchmarks import __main__ as runner


def test_names_and_arguments_are_told_apart() -> None:
    assert runner.split(["audit_write", "interlock_reaction", "50"]) == (["audit_write", "interlock_reaction"], ["50"])
    assert runner.split(["50"]) == ([], ["50"])


def test_an_unknown_name_is_refused_with_the_list_of_benchmarks() -> None:
    with pytest.raises(SystemExit, match=r"no benchmark named 'audit_wirte'; choose from: .*audit_write"):
        runner.split(["audit_wirte"])


def test_a_benchmark_sees_only_its_arguments_never_its_own_name(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []
    fake = types.SimpleNamespace(main=lambda: seen.append(list(sys.argv[1:])))

    def load(name: str) -> Any:
        return fake

    monkeypatch.setattr(runner.importlib, "import_module", load)
    monkeypatch.setattr(sys, "argv", ["benchmarks", "audit_write", "25"])
    runner.run_all(["audit_write", "25"])
    runner.run_all(["audit_write"])
    assert seen == [["25"], []]
    assert sys.argv == ["benchmarks", "audit_write", "25"], "restored afterwards"
