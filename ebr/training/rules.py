"""Pure rules of qualification: which requirements apply to a step, and what a person lacks.

No database here: the service loads requirements and training records into these plain
values, so the rule reads the same in the engine's check, the pages and the validation
documents, and is tested in microseconds.

A training counts from the moment the trainee signed it (``signed_at``) until its
``expires_on`` (the plant date from which it is no longer valid); a record dated in
the past never qualifies anybody for work done before it was signed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum


class RequirementKind(StrEnum):
    """What can require a curriculum."""

    PHASE_TYPE = "phase_type"
    RECIPE = "recipe"
    EQUIPMENT = "equipment"


@dataclass(frozen=True)
class Need:
    """``curriculum`` is required by ``kind`` ``target`` (a phase type only on ``unit``, when given)."""

    curriculum: str
    kind: RequirementKind
    target: str
    unit: str | None = None

    def what(self) -> str:
        """The requirement as a person reads it: "phase type dose on R-101", "recipe SIMPLE", "unit R-101"."""
        if self.kind is RequirementKind.PHASE_TYPE:
            return f"phase type {self.target}" + (f" on {self.unit}" if self.unit else "")
        if self.kind is RequirementKind.RECIPE:
            return f"recipe {self.target}"
        return f"unit {self.target}"


@dataclass(frozen=True)
class Held:
    """One training record of a person, as the rule needs it."""

    curriculum: str
    signed_at: dt.datetime
    expires_on: dt.date | None


class Standing(StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    MISSING = "missing"


@dataclass(frozen=True)
class Qualification:
    """A person's standing on one curriculum: valid (until ``until``), expired (on ``until``) or missing."""

    curriculum: str
    standing: Standing
    until: dt.date | None = None

    def describe(self) -> str:
        if self.standing is Standing.MISSING:
            return f"curriculum '{self.curriculum}' missing"
        if self.standing is Standing.EXPIRED:
            return f"curriculum '{self.curriculum}' expired on {self.until}"
        return f"curriculum '{self.curriculum}' valid" + (f" until {self.until}" if self.until else "")


def applicable(
    needs: Iterable[Need], *, phase_type: str | None, recipe: str | None, units: Iterable[str]
) -> list[Need]:
    """The needs that apply to a step of ``phase_type`` in a batch of ``recipe`` using ``units``."""
    used = set(units)
    found = []
    for need in needs:
        if need.kind is RequirementKind.PHASE_TYPE:
            hit = need.target == phase_type and (need.unit is None or need.unit in used)
        elif need.kind is RequirementKind.RECIPE:
            hit = need.target == recipe
        else:
            hit = need.target in used
        if hit:
            found.append(need)
    return found


def standing(curriculum: str, held: Sequence[Held], *, at: dt.datetime, today: dt.date) -> Qualification:
    """The standing on ``curriculum`` at ``at`` (plant date ``today``) from the person's records."""
    signed = [h for h in held if h.curriculum == curriculum and h.signed_at <= at]
    if not signed:
        return Qualification(curriculum, Standing.MISSING)
    if any(h.expires_on is None for h in signed):
        return Qualification(curriculum, Standing.VALID)
    latest = max(h.expires_on for h in signed if h.expires_on is not None)
    if today < latest:
        return Qualification(curriculum, Standing.VALID, latest)
    return Qualification(curriculum, Standing.EXPIRED, latest)


def gaps(person: str, needs: Iterable[Need], held: Sequence[Held], *, at: dt.datetime, today: dt.date) -> list[str]:
    """One sentence per need ``person`` does not meet (empty: qualified), e.g.
    "jdoe is not qualified for phase type dose on R-101: curriculum 'Dosing R-101' missing"."""
    found = []
    for need in needs:
        q = standing(need.curriculum, held, at=at, today=today)
        if q.standing is not Standing.VALID:
            found.append(f"{person} is not qualified for {need.what()}: {q.describe()}")
    return list(dict.fromkeys(found))


def expiry(trained_on: dt.date, validity_days: int | None, asked: dt.date | None, *, curriculum: str) -> dt.date | None:
    """The expiry of a training: ``asked`` when given (not after the curriculum's validity), else
    ``trained_on`` + validity. Raises ValueError with the reason."""
    limit = None if validity_days is None else trained_on + dt.timedelta(days=validity_days)
    if asked is None:
        return limit
    if asked <= trained_on:
        raise ValueError(f"the expiry {asked} must be after the training date {trained_on}")
    if limit is not None and asked > limit:
        raise ValueError(
            f"the expiry {asked} is later than curriculum '{curriculum}' allows ({validity_days} days: {limit})"
        )
    return asked


def by_person(records: Iterable[tuple[str, Held]]) -> Mapping[str, list[Held]]:
    """Records grouped by person."""
    out: dict[str, list[Held]] = {}
    for person, held in records:
        out.setdefault(person, []).append(held)
    return out
