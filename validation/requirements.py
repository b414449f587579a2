"""Load and check the user requirements of ``requirements.yaml``."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import yaml

RISKS = frozenset({"high", "medium", "low"})


@dataclass(frozen=True)
class Requirement:
    id: str
    text: str
    clauses: tuple[str, ...]
    risk: str
    area: str


def load_requirements(text: str | None = None) -> dict[str, Requirement]:
    """All requirements by id (from the shipped file unless ``text`` is given)."""
    if text is None:
        text = resources.files("validation").joinpath("requirements.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    found: dict[str, Requirement] = {}
    for entry in data["requirements"]:
        req = Requirement(
            id=entry["id"],
            text=entry["text"],
            clauses=tuple(entry["clauses"]),
            risk=entry["risk"],
            area=entry["area"],
        )
        if req.id in found:
            raise ValueError(f"requirement {req.id} is defined twice")
        if req.risk not in RISKS:
            raise ValueError(f"requirement {req.id}: risk {req.risk!r} is not one of {sorted(RISKS)}")
        found[req.id] = req
    return found


def unknown_ids(named: set[str], known: dict[str, Requirement] | None = None) -> set[str]:
    """The ids in ``named`` that are not defined requirements."""
    known = load_requirements() if known is None else known
    return {name for name in named if name not in known}
