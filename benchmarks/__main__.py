"""Run every benchmark module in this folder (each has a ``main()``)."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import benchmarks


def run_all(selected: list[str]) -> None:
    for info in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda m: m.name):
        if info.name in {"table", "__main__"} or info.name.startswith("_"):
            continue
        if selected and info.name not in selected:
            continue
        module = importlib.import_module(f"benchmarks.{info.name}")
        if hasattr(module, "main"):
            module.main()


if __name__ == "__main__":
    run_all(sys.argv[1:])
