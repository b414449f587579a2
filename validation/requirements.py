"""Load and check the user requirements of ``requirements.yaml`` and the clauses of ``clauses.yaml``.

A requirement cites regulation clauses by id (``"21 CFR 11.10(e)"``,
``"EU GMP Annex 11 §9"``). A cited sub-clause covers its parent: ``11.50(a)``
covers ``11.50`` and ``§8.1`` covers ``§8`` (see :func:`covers`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from validation.errors import RequirementsError

RISKS = frozenset({"high", "medium", "low"})
REQUIRED_KEYS = ("id", "text", "clauses", "risk", "area")


@dataclass(frozen=True)
class Requirement:
    """One user requirement: what the system must do and which clauses it serves."""

    id: str
    text: str
    clauses: tuple[str, ...]
    risk: str
    area: str


@dataclass(frozen=True)
class Clause:
    """One regulation clause the system must serve."""

    id: str
    title: str


def _shipped(name: str) -> str:
    return resources.files("validation").joinpath(name).read_text(encoding="utf-8")


def _entries(text: str, key: str, source: str) -> list[dict[str, Any]]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RequirementsError(f"{source} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise RequirementsError(f"{source} must be a mapping with a list under {key!r}")
    entries: list[dict[str, Any]] = data[key]
    return entries


def _requirement(entry: Any, position: int) -> Requirement:
    if not isinstance(entry, dict) or (absent := [k for k in REQUIRED_KEYS if k not in entry]):
        missing = ", ".join(absent) if isinstance(entry, dict) else "everything"
        raise RequirementsError(f"requirement #{position} lacks {missing}; give {', '.join(REQUIRED_KEYS)}")
    req = Requirement(
        id=str(entry["id"]),
        text=str(entry["text"]),
        clauses=tuple(str(c) for c in entry["clauses"]),
        risk=str(entry["risk"]),
        area=str(entry["area"]),
    )
    if req.risk not in RISKS:
        raise RequirementsError(f"requirement {req.id}: risk {req.risk!r} is not one of {sorted(RISKS)}")
    if not req.clauses:
        raise RequirementsError(f"requirement {req.id} names no regulation clause; cite at least one")
    return req


def load_requirements(text: str | None = None, *, path: Path | None = None) -> dict[str, Requirement]:
    """All requirements by id, from ``text``, ``path`` or the shipped file (in that order).

    Raises RequirementsError (a ValueError) for a malformed file or a duplicate id.
    """
    source = str(path) if path is not None else "requirements.yaml"
    if text is None:
        text = path.read_text(encoding="utf-8") if path is not None else _shipped("requirements.yaml")
    found: dict[str, Requirement] = {}
    for position, entry in enumerate(_entries(text, "requirements", source), start=1):
        req = _requirement(entry, position)
        if req.id in found:
            raise RequirementsError(f"requirement {req.id} is defined twice")
        found[req.id] = req
    return found


def load_clauses(text: str | None = None, *, path: Path | None = None) -> dict[str, Clause]:
    """The expected regulation clauses by id (shipped ``clauses.yaml`` unless given)."""
    source = str(path) if path is not None else "clauses.yaml"
    if text is None:
        text = path.read_text(encoding="utf-8") if path is not None else _shipped("clauses.yaml")
    found: dict[str, Clause] = {}
    for entry in _entries(text, "clauses", source):
        if not isinstance(entry, dict) or "id" not in entry:
            raise RequirementsError(f"{source}: every clause needs an id and a title, got {entry!r}")
        clause = Clause(id=str(entry["id"]), title=str(entry.get("title", "")))
        if clause.id in found:
            raise RequirementsError(f"clause {clause.id} is listed twice in {source}")
        found[clause.id] = clause
    return found


def covers(cited: str, expected: str) -> bool:
    """True when a requirement citing ``cited`` serves the clause ``expected``.

    Equal ids match; so does a sub-clause: ``expected`` followed by ``(`` or ``.``
    (``11.50(a)`` → ``11.50``; ``§8.1`` → ``§8``; but ``§17`` does not cover ``§1``).
    """
    if cited == expected:
        return True
    return cited.startswith(expected) and cited[len(expected)] in "(."


def requirements_for_clause(clause_id: str, requirements: Iterable[Requirement]) -> list[str]:
    """Ids of the requirements that serve ``clause_id``, in file order."""
    return [req.id for req in requirements if any(covers(cited, clause_id) for cited in req.clauses)]


def uncovered_clauses(clauses: Mapping[str, Clause], requirements: Mapping[str, Requirement]) -> list[str]:
    """Expected clauses no requirement cites, in the clauses file's order."""
    return [cid for cid in clauses if not requirements_for_clause(cid, requirements.values())]


def unknown_ids(named: set[str], known: dict[str, Requirement] | None = None) -> set[str]:
    """The ids in ``named`` that are not defined requirements."""
    known = load_requirements() if known is None else known
    return {name for name in named if name not in known}
