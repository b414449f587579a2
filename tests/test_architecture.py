"""The layers of DESIGN.md, checked by import-linter, and the code-quality gates."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = BIN / name
    if found.exists():
        return str(found)
    located = shutil.which(name)
    assert located, f"{name} is not installed: run `make test`, which installs the dev extra"
    return located


@pytest.mark.requirement("URS-SYS-005")
def test_import_contracts_hold() -> None:
    result = subprocess.run([_tool("lint-imports")], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def _contracts() -> list[dict[str, object]]:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return contracts


@pytest.mark.requirement("URS-SYS-005")
def test_the_contracts_have_no_exemptions() -> None:
    exempted = [str(contract["name"]) for contract in _contracts() if contract.get("ignore_imports")]
    assert not exempted, f"contracts with ignore_imports: {exempted}"


@pytest.mark.requirement("URS-SYS-005")
def test_the_application_layer_names_every_module_of_ebr_but_its_foundation() -> None:
    layers = next(contract["layers"] for contract in _contracts() if contract["type"] == "layers")
    assert isinstance(layers, list)
    named = {name.strip() for layer in layers for name in str(layer).replace("|", ":").split(":")}
    present = {
        f"ebr.{path.stem if path.is_file() else path.name}"
        for path in (ROOT / "ebr").iterdir()
        if (path.suffix == ".py" and path.stem != "__init__") or (path.is_dir() and (path / "__init__.py").exists())
    }
    assert present - named == set(), "modules of ebr missing from the layers contract in pyproject.toml"
    assert {name for name in named if name.startswith("ebr.")} - present == set(), "layers name modules that are gone"


PRODUCT_PACKAGES = ("ebr", "audit", "signatures", "recipes", "equipment", "validation")
SHARED = ("ebr.web", "ebr.api", "ebr.cli")  # what the features' adapters share
SHARED_NAMES = {"web", "api", "cli", "core"}


def _import_cycles(graph: object, modules: set[str]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    imported = {m: sorted(graph.find_modules_directly_imported_by(m) & modules) for m in modules}  # type: ignore[attr-defined]
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in sorted(modules):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, position = work.pop()
            if position == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            successors = imported[node]
            if position < len(successors):
                work.append((node, position + 1))
                successor = successors[position]
                if successor not in index:
                    work.append((successor, 0))
                elif successor in on_stack:
                    low[node] = min(low[node], index[successor])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return cycles


def test_the_cycle_finder_finds_a_circle_and_only_it() -> None:
    edges: dict[str, set[str]] = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}

    class Graph:
        def find_modules_directly_imported_by(self, module: str) -> set[str]:
            return edges[module]

    assert _import_cycles(Graph(), set(edges)) == [["a", "b", "c"]]


@pytest.mark.requirement("URS-SYS-005")
def test_the_product_code_has_no_import_circles() -> None:
    import grimp

    # Every import counts, also those inside functions and under TYPE_CHECKING: a circle
    # hidden in a function is still two modules that cannot be understood one without the other.
    graph = grimp.build_graph(*PRODUCT_PACKAGES)
    cycles = _import_cycles(graph, set(graph.modules))
    assert not cycles, "import circles (break each by moving the shared part down):\n" + "\n".join(
        " ↔ ".join(cycle) for cycle in cycles
    )


def _owned_by_one_feature(graph: object, shared: tuple[str, ...], features: tuple[str, ...]) -> dict[str, str]:
    """The modules of the shared packages that only one feature package imports: {module: feature}.

    An importer outside every feature (the app factory, another shared module) makes a module
    shared; a module nothing imports statically (a command group loaded by name) is left alone.
    """

    def owner(module: str) -> str | None:
        return next((feature for feature in features if module == feature or module.startswith(f"{feature}.")), None)

    found: dict[str, str] = {}
    for package in shared:
        for module in sorted(graph.find_descendants(package)):  # type: ignore[attr-defined]
            owners = {owner(importer) for importer in graph.find_modules_that_directly_import(module)}  # type: ignore[attr-defined]
            if len(owners) == 1 and None not in owners:
                found[module] = str(owners.pop())
    return found


def test_the_owner_finder_names_a_shared_module_only_one_feature_imports() -> None:
    importers: dict[str, set[str]] = {
        "s.one": {"f.a", "f.a.b"},  # only feature f.a: it belongs there
        "s.two": {"f.a", "g"},  # f.a and the composition root g
        "s.three": {"f.a", "f.c"},  # two features
        "s.four": {"s.one"},  # another shared module
        "s.five": set(),  # loaded by name
    }

    class Graph:
        def find_descendants(self, package: str) -> set[str]:
            return {module for module in importers if module.startswith(f"{package}.")}

        def find_modules_that_directly_import(self, module: str) -> set[str]:
            return importers[module]

    assert _owned_by_one_feature(Graph(), ("s",), ("f.a", "f.c")) == {"s.one": "f.a"}


@pytest.mark.requirement("URS-SYS-005")
def test_the_shared_packages_hold_only_what_more_than_one_feature_uses() -> None:
    import grimp

    from ebr.features import FEATURES

    graph = grimp.build_graph(*PRODUCT_PACKAGES)
    owned = _owned_by_one_feature(graph, SHARED, FEATURES)
    assert owned == {}, (
        "modules of ebr/web, ebr/api, ebr/cli that one feature alone uses (move each there):\n"
        + "\n".join(f"{module} → {feature}" for module, feature in owned.items())
    )


def test_every_feature_package_is_in_the_one_list() -> None:
    from ebr.features import ADAPTERS, FEATURES

    # ebr's packages but the shared ones, and validation (``ebr validate``), which sits above them.
    packages = {f"ebr.{path.name}": path for path in (ROOT / "ebr").iterdir() if path.name not in SHARED_NAMES}
    packages["validation"] = ROOT / "validation"
    with_adapters = {
        name
        for name, path in packages.items()
        for kind in ADAPTERS
        if next(path.glob(f"{kind}.py"), None) or next(path.glob(f"{kind}_*.py"), None)
    }
    assert with_adapters - set(FEATURES) == set(), "feature packages missing from ebr/features.py FEATURES"
    assert set(FEATURES) - with_adapters == set(), "FEATURES names packages without web/api/cli modules"


@pytest.mark.requirement("URS-SYS-005")
def test_every_feature_packages_blueprints_are_registered_in_the_app() -> None:
    import importlib

    from ebr.app import create_app
    from ebr.features import FEATURES
    from ebr.web.registry import services_of

    app = create_app({"database_url": "sqlite://"})
    registered = set(app.blueprints.values())
    missing = []
    for feature in FEATURES:
        for path in sorted((ROOT / feature.replace(".", "/")).glob("*.py")):
            if not any(path.stem == kind or path.stem.startswith(f"{kind}_") for kind in ("web", "api")):
                continue
            module = importlib.import_module(f"{feature}.{path.stem}")
            blueprint = getattr(module, "blp", None) or getattr(module, "bp", None)
            if blueprint is None or blueprint not in registered:
                missing.append(f"{feature}.{path.stem}")
    assert not missing, f"feature modules whose blueprint (bp / blp) the app does not serve: {missing}"
    assert {"execute", "auth", "api_batches", "integration_api"} <= set(app.blueprints)
    services_of(app).close()


def test_the_test_folders_are_named_after_packages_that_exist() -> None:
    # tests/unit/<name> and tests/integration/<name> test the package <name> (a top-level one or
    # one of ebr/), so a renamed package leaves no folder behind under its old name.
    packages = {path.parent.name for base in (ROOT, ROOT / "ebr") for path in base.glob("*/__init__.py")}
    # (a folder git left with only __pycache__ in it after a move holds no tests)
    folders = {path.parent for kind in ("unit", "integration") for path in (ROOT / "tests" / kind).glob("*/*.py")}
    stale = sorted(str(path.relative_to(ROOT)) for path in folders if path.name not in packages)
    assert stale == [], f"test folders named after no package (move them with git mv): {stale}"


def test_the_picture_of_the_package_imports_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "import_graph.py"), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
