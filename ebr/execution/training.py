"""The qualification check before a step is started or signed (21 CFR 211.25, 11.10(i)).

The execution service calls :meth:`QualificationCheck.check` at one place for start,
completion (every signer) and verification, so the browser and the JSON API refuse
alike; the refusal (``ebr.training.errors.NotQualified``) is recorded as a training
refusal by ``ebr.execution.refusals``. The step's units are its unit procedure's unit
and the equipment its phase names (scale, dosing source and destination, checked
equipment). With no requirement configured nothing is checked.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from sqlalchemy.orm import Session

from ebr.execution.context import Context
from recipes.model import Phase


class Qualification(Protocol):
    """The part of ``ebr.training.services.TrainingService`` the engine uses."""

    def configured(self, session: Session) -> bool: ...

    def check(
        self,
        session: Session,
        *,
        people: Iterable[str],
        phase_type: str | None,
        recipe: str | None,
        units: Iterable[str],
    ) -> None: ...


def units_of(unit: str | None, phase: Phase | None) -> list[str]:
    """The equipment a phase step uses: its unit procedure's unit and any tag its parameters name."""
    found = [unit] if unit else []
    params = phase.params if phase is not None else None
    for name in ("scale", "source", "destination", "equipment"):
        value = getattr(params, name, None)
        if isinstance(value, str) and value:
            found.append(value)
    return list(dict.fromkeys(found))


class QualificationCheck:
    """Refuse (NotQualified) people who lack a training the step requires."""

    def __init__(self, ctx: Context, qualification: Qualification | None) -> None:
        self.ctx = ctx
        self.qualification = qualification

    def check(self, session: Session, *, ref: str, path: str, people: Iterable[str]) -> None:
        if self.qualification is None or not self.qualification.configured(session):
            return  # no requirement: nothing to load, nothing checked
        batch = self.ctx.batch(session, ref)
        step = self.ctx.step(session, batch, path)
        phase = self.ctx.plan(session, batch).phase(path) if step.level == "phase" else None
        self.qualification.check(
            session,
            people=[p for p in people if p],
            phase_type=step.phase_type,
            recipe=batch.recipe_name,
            units=units_of(step.unit, phase),
        )
