"""Run the benchmark modules in this folder (each has a ``main()``).

    python -m benchmarks                       every benchmark
    python -m benchmarks NAME [NAME ...] [ARGS]  the named ones; ARGS (e.g. a count) go to each

Names are taken off the command line before a benchmark runs: a module that reads
``sys.argv`` (or ``main(argv=None)``) sees only the remaining arguments, never its own name.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import benchmarks

SKIP = {"table", "__main__"}


def available() -> list[str]:
    names = (m.name for m in pkgutil.iter_modules(benchmarks.__path__))
    return sorted(n for n in names if n not in SKIP and not n.startswith("_"))


def split(args: list[str]) -> tuple[list[str], list[str]]:
    """``(benchmark names, arguments for them)``; SystemExit naming a word that is neither."""
    known = available()
    names = [a for a in args if a in known]
    rest = [a for a in args if a not in known]
    unknown = [a for a in rest if a.isidentifier() and not a.startswith("-")]
    if unknown:
        raise SystemExit(f"no benchmark named {unknown[0]!r}; choose from: {', '.join(known)}")
    return names, rest


def run_all(args: list[str]) -> None:
    names, rest = split(args)
    for name in names or available():
        module = importlib.import_module(f"benchmarks.{name}")
        if not hasattr(module, "main"):
            continue
        saved = sys.argv
        sys.argv = [f"benchmarks.{name}", *rest]
        try:
            module.main()
        finally:
            sys.argv = saved


if __name__ == "__main__":
    run_all(sys.argv[1:])
