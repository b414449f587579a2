"""The documentation shipped with the system is complete and matches it (URS-VAL-002)."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from ebr.cli import main
from ebr.core.config import load_settings

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.strip().splitlines() if line.strip()]


@pytest.mark.requirement("URS-VAL-002")
def test_the_quick_start_has_exactly_the_two_make_commands_that_exist() -> None:
    assert _quick_start_commands() == ["make demo", "make test"]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^demo:", makefile, re.M)
    assert re.search(r"^test:", makefile, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


@pytest.mark.requirement("URS-VAL-002")
def test_every_top_level_command_is_documented_in_the_readme() -> None:
    for name in main.list_commands(click.Context(main)):
        assert f"ebr {name}" in README, f"`ebr {name}` is not described in README.md"


@pytest.mark.requirement("URS-VAL-002")
def test_every_setting_is_documented_in_the_configuration_guide() -> None:
    guide = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    source = (ROOT / "ebr" / "core" / "config.py").read_text(encoding="utf-8")
    variables = set(re.findall(r'"(EBR_[A-Z_]+)"', source))
    assert variables, "no settings found in ebr/core/config.py"
    missing = sorted(v for v in variables if f"`{v}`" not in guide)
    assert not missing, f"settings missing from docs/configuration.md: {missing}"
    assert load_settings({}).checkpoint_every == 1000


@pytest.mark.requirement("URS-VAL-002")
def test_every_document_the_readme_links_exists() -> None:
    for target in re.findall(r"\]\((docs/[^)#]+)\)", README):
        assert (ROOT / target).exists(), f"README links {target}, which does not exist"
    for name in ("intended-use.md", "risk-assessment.md", "running-and-reading.md"):
        assert (ROOT / "docs" / "validation" / name).exists()
