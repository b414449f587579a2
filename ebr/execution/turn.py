"""What a phase operation is given and what it returns: :class:`Turn` in, :class:`Result` out.

Kept apart from the phase logic so that both the manual phases (:mod:`ebr.execution.phases`)
and the automated ones (:mod:`ebr.execution.automated`) build on it without importing
each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ebr.core.errors import StateError
from ebr.execution.context import Context
from ebr.execution.models import Batch, BatchStep, StepEntry
from ebr.execution.rules import DeviationKind, Severity
from recipes.model import Phase


@dataclass(frozen=True)
class Entry:
    """A value to record: name, text value, unit, limit verdict and where it came from."""

    name: str
    value: str
    unit: str | None = None
    in_limits: bool | None = None
    source: str = "manual"


@dataclass(frozen=True)
class DeviationSpec:
    kind: DeviationKind
    severity: Severity
    description: str


@dataclass
class Result:
    entries: list[Entry] = field(default_factory=list)
    deviations: list[DeviationSpec] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Turn:
    session: Session
    ctx: Context
    batch: Batch
    step: BatchStep
    phase: Phase
    actor: str
    entries: Mapping[str, StepEntry]
    env: Mapping[str, Any] = field(default_factory=dict)

    # The runtime's name for this phase: unique across batches and stable across restarts.
    @property
    def phase_ref(self) -> str:
        return f"{self.batch.id}:{self.step.path}"

    def need(self, name: str, hint: str) -> StepEntry:
        entry = self.entries.get(name)
        if entry is None:
            raise StateError(f"step {self.step.path} has no {name} yet: {hint}")
        return entry


def current_entries(session: Session, step: BatchStep) -> dict[str, StepEntry]:
    """The step's entries of its current run (a loop runs a step again) not corrected away, by name."""
    query = select(StepEntry).where(StepEntry.step_id == step.id, StepEntry.superseded_at.is_(None))
    # A loop restarts the step: entries of earlier runs stay in the record but are not this run's.
    if step.started_at is not None:
        query = query.where(StepEntry.recorded_at >= step.started_at)
    return current_of(step, session.scalars(query.order_by(StepEntry.recorded_at, StepEntry.id)))


def current_of(step: BatchStep, entries: Iterable[StepEntry]) -> dict[str, StepEntry]:
    """``current_entries``' rule over ``step``'s entries already loaded (oldest first; a later one wins)."""
    return {
        e.name: e
        for e in entries
        if e.superseded_at is None and (step.started_at is None or e.recorded_at >= step.started_at)
    }


def dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))
