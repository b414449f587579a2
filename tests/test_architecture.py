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
