"""The execution facade: one object per installation bound to the composition root's services.

Web views and CLI commands call these methods inside a unit of work; each method
is one transition (see the modules it delegates to).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from ebr.execution import automation, batches, commands, corrections, deviations, engine, refusals, samples
from ebr.execution.context import Context, RecipeSource
from ebr.execution.models import Batch, BatchStep, Deviation, SampleResult, StepEntry
from ebr.execution.scale import RuntimeScale
from ebr.execution.training import Qualification, QualificationCheck
from ebr.materials.services import Credentials, MaterialService
from ebr.training.services import build as build_training
from recipes.model import Recipe


class Execution:
    """Batches, steps, commands, deviations and corrections.

    Before a step is started or signed, everyone who starts or signs it must hold the
    training its phase type, recipe or units require (``ebr.execution.training``); the
    refusal names what is missing and is recorded like an equipment refusal.
    """

    def __init__(self, ctx: Context, *, qualification: Qualification | None = None) -> None:
        self.ctx = ctx
        self.qualified = QualificationCheck(ctx, qualification)

    @property
    def materials(self) -> MaterialService:
        return self.ctx.materials

    def create_batch(
        self, session: Session, *, actor: str, recipe: str, version: str | None, size: Decimal | str, order: str
    ) -> Batch:
        return batches.create_batch(
            session, self.ctx, actor=actor, recipe=recipe, version=version, size=size, order=order
        )

    def create_from_recipe(
        self, session: Session, *, actor: str, master: Recipe, version: str, size: Decimal | str, order: str
    ) -> Batch:
        return batches.create_from_recipe(
            session, self.ctx, actor=actor, master=master, version=version, size=size, order=order
        )

    def create_from_recipes(self, session: Session, *, actor: str, orders: Sequence[batches.BatchOrder]) -> list[Batch]:
        return batches.create_from_recipes(session, self.ctx, actor=actor, orders=orders)

    def release_to_floor(self, session: Session, *, actor: str, ref: str, version: int | None = None) -> Batch:
        return batches.release_to_floor(session, self.ctx, actor=actor, ref=ref, version=version)

    def start_batch(self, session: Session, *, actor: str, ref: str, version: int | None = None) -> Batch:
        return engine.start_batch(session, self.ctx, actor=actor, ref=ref, version=version)

    def batch(self, session: Session, ref: str) -> Batch:
        return self.ctx.batch(session, ref)

    def start_step(
        self, session: Session, *, actor: str, ref: str, path: str, version: int | None = None
    ) -> engine.StepOutcome:
        self.qualified.check(session, ref=ref, path=path, people=[actor])
        return engine.start_step(session, self.ctx, actor=actor, ref=ref, path=path, version=version)

    def record(
        self,
        session: Session,
        *,
        actor: str,
        ref: str,
        path: str,
        values: Mapping[str, Any],
        version: int | None = None,
        confirmed: bool = True,
    ) -> engine.StepOutcome:
        return engine.record(
            session, self.ctx, actor=actor, ref=ref, path=path, values=values, version=version, confirmed=confirmed
        )

    def complete_step(
        self,
        session: Session,
        *,
        actor: str,
        ref: str,
        path: str,
        version: int | None = None,
        values: Mapping[str, Any] | None = None,
        signatures: Sequence[Credentials] = (),
        confirmed: bool = True,
    ) -> engine.StepOutcome:
        self.qualified.check(session, ref=ref, path=path, people=[actor, *(c.user_id for c in signatures)])
        return engine.complete_step(
            session, self.ctx, actor=actor, ref=ref, path=path, version=version, values=values,
            signatures=signatures, confirmed=confirmed,
        )  # fmt: skip

    def verify_step(
        self,
        session: Session,
        *,
        actor: str,
        ref: str,
        path: str,
        signature: Credentials,
        version: int | None = None,
    ) -> BatchStep:
        """Give the ``verified`` signature a completed step waits for (see ``engine.verify_step``)."""
        self.qualified.check(session, ref=ref, path=path, people=[signature.user_id])
        return engine.verify_step(
            session, self.ctx, actor=actor, ref=ref, path=path, signature=signature, version=version
        )

    def command_batch(
        self,
        session: Session,
        *,
        actor: str,
        ref: str,
        command: str,
        version: int | None = None,
        reason: str | None = None,
        signature: Credentials | None = None,
    ) -> Batch:
        return commands.command_batch(
            session, self.ctx, actor=actor, ref=ref, command=command, version=version, reason=reason,
            signature=signature,
        )  # fmt: skip

    def command_phase(
        self,
        session: Session,
        *,
        actor: str,
        ref: str,
        path: str,
        command: str,
        version: int | None = None,
        reason: str | None = None,
        signature: Credentials | None = None,
    ) -> BatchStep:
        return commands.command_phase(
            session, self.ctx, actor=actor, ref=ref, path=path, command=command, version=version, reason=reason,
            signature=signature,
        )  # fmt: skip

    def open_deviation(
        self, session: Session, *, actor: str, ref: str, path: str | None, severity: str, description: str
    ) -> Deviation:
        batch = self.ctx.batch(session, ref, lock=True)
        if path is not None:
            self.ctx.step(session, batch, path)
        return deviations.open_deviation(
            session,
            self.ctx,
            actor=actor,
            batch=batch,
            step_path=path,
            kind="manual",
            severity=severity,
            description=description,
        )

    def handle_deviation(
        self,
        session: Session,
        *,
        actor: str,
        ref: str,
        comment: str,
        signature: Credentials,
        version: int | None = None,
        investigation_ref: str | None = None,
        severity: str | None = None,
    ) -> Deviation:
        return deviations.handle(
            session,
            self.ctx,
            actor=actor,
            ref=ref,
            version=version,
            comment=comment,
            signature=signature,
            investigation_ref=investigation_ref,
            severity=severity,
        )

    def correct_entry(
        self, session: Session, *, actor: str, entry_id: str, value: str, reason: str, signature: Credentials
    ) -> tuple[StepEntry, Deviation | None]:
        return corrections.correct_entry(
            session, self.ctx, actor=actor, entry_id=entry_id, value=value, reason=reason, signature=signature
        )

    def enter_sample_result(
        self, session: Session, *, actor: str, ref: str, test: str, value: str, unit: str | None = None
    ) -> SampleResult:
        """QC's result of one test of a waiting sample (see ``ebr.execution.samples``)."""
        return samples.enter_result(session, self.ctx, actor=actor, ref=ref, test=test, value=value, unit=unit)

    def record_refusal(self, session: Session, *, actor: str, ref: str, path: str, kind: str, message: str) -> None:
        """Audit an equipment or material refusal on a step (see ``ebr.execution.refusals``)."""
        refusals.record_refusal(session, self.ctx, actor=actor, ref=ref, path=path, kind=kind, message=message)

    def sync(self, session: Session, ref: str) -> Batch:
        batch = self.ctx.batch(session, ref, lock=True)
        automation.sync(session, self.ctx, batch)
        return batch

    def recover(self, session: Session) -> list[str]:
        return automation.recover(session, self.ctx)


def build(services: Any) -> Execution:
    """The installation's :class:`Execution`, built once from the composition root's services."""
    existing = services.extras.get("execution")
    if isinstance(existing, Execution):
        return existing
    materials = MaterialService(audit=services.audit, clock=services.clock, signer=services.signing)
    recipes: RecipeSource | None = getattr(services, "recipes", None)
    ctx = Context(
        audit=services.audit,
        clock=services.clock,
        signer=services.signing,
        equipment=services.equipment,
        materials=materials,
        scale=RuntimeScale(clock=services.clock),
        recipes=recipes,
    )
    execution = Execution(ctx, qualification=build_training(services))
    services.extras["execution"] = execution
    return execution
