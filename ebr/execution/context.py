"""What every execution service needs: collaborators, loading rows, plans, signing.

The collaborators are passed in by :func:`ebr.execution.build` from the
composition root's services; nothing here is created at import time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.chain import Entity
from audit.trail import AuditTrail
from ebr.core.clock import Clock
from ebr.core.errors import Conflict, NotFound, ValidationError
from ebr.core.ids import new_id
from ebr.execution.models import Batch, BatchStep, RecordSignature
from ebr.execution.plan import Plan, PlanCache, build_plan
from ebr.materials.services import Credentials, MaterialService, Signer
from recipes.model import Recipe


class Equipment(Protocol):
    """The part of ``equipment.services.EquipmentService`` the engine uses."""

    def check_usable(
        self, session: Session, unit: str, at: dt.datetime | None = None, *, batch_ref: str | None = None
    ) -> None: ...

    def mark_in_use(self, session: Session, *, actor: str, unit: str, batch_ref: str) -> Any: ...

    def mark_dirty(
        self, session: Session, *, actor: str, unit: str, reason: str = "used", reference: str | None = None
    ) -> Any: ...


class RecipeSource(Protocol):
    """``services.recipes``: the approved, effective master recipe version."""

    def get_effective(
        self, session: Session, name: str, version: str | None = None, at: dt.datetime | None = None
    ) -> tuple[Any, Recipe]: ...


@dataclass(frozen=True)
class ScaleReading:
    """A scale's gross weight, its unit and whether it is stable."""

    weight: Decimal
    unit: str
    stable: bool
    at: dt.datetime


class ScaleReader(Protocol):
    def read(self, session: Session, scale: str) -> ScaleReading: ...


@dataclass(kw_only=True)
class Context:
    """The engine's collaborators."""

    audit: AuditTrail
    clock: Clock
    signer: Signer
    equipment: Equipment
    materials: MaterialService
    scale: ScaleReader
    recipes: RecipeSource | None = None
    plans: PlanCache = field(default_factory=PlanCache)

    # -- loading -----------------------------------------------------------------------

    def batch(self, session: Session, ref: str, *, lock: bool = False) -> Batch:
        """The batch by id or number; ``lock`` takes its row lock (PostgreSQL) for this transaction."""
        query = select(Batch).where((Batch.id == ref) | (Batch.number == ref))
        if lock:
            query = query.with_for_update()
        found = session.scalars(query).first()
        if found is None:
            raise NotFound(f"no batch {ref!r}; `ebr batch list` shows the batches")
        return found

    def step(self, session: Session, batch: Batch, path: str) -> BatchStep:
        found = session.scalars(select(BatchStep).where(BatchStep.batch_id == batch.id, BatchStep.path == path)).first()
        if found is None:
            raise NotFound(f"batch {batch.number} has no step {path!r}")
        return found

    def children(self, session: Session, batch: Batch, parent: str) -> list[BatchStep]:
        query = select(BatchStep).where(BatchStep.batch_id == batch.id, BatchStep.parent == parent)
        return list(session.scalars(query.order_by(BatchStep.position)))

    def plan(self, session: Session, batch: Batch) -> Plan:
        """The control recipe's plan (parsed once per process and batch)."""
        cached = self.plans.get(batch.control_recipe_hash)
        if cached is not None:
            return cached
        return self.plans.put(batch.control_recipe_hash, build_plan(Recipe.from_dict(batch.control_recipe)))

    # -- recording ---------------------------------------------------------------------

    def record(
        self,
        session: Session,
        *,
        actor: str,
        action: str,
        entity: Entity,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> None:
        self.audit.record(session, actor=actor, action=action, entity=entity, before=before, after=after, reason=reason)

    def sign(
        self,
        session: Session,
        *,
        batch: Batch,
        subject_type: str,
        subject_id: str,
        content: Mapping[str, Any],
        credentials: Credentials,
        reason: str | None = None,
        not_by: Mapping[str, str] | None = None,
        label: str | None = None,
    ) -> RecordSignature:
        """Run the signing ceremony and link the signature to the record it signs.

        ``label`` is the subject id the signer sees and the signature names (e.g.
        ``B20261124-0001/UP1.OP1.PH2``); it defaults to ``subject_id``.
        """
        signature = self.signer.sign(
            session,
            subject=Entity(subject_type, label or subject_id),
            content=content,
            meaning=credentials.meaning,
            reason=reason,
            user_id=credentials.user_id,
            password=credentials.password,
            not_by=dict(not_by or {}),
        )
        row = RecordSignature(
            id=new_id(),
            batch_id=batch.id,
            subject_type=subject_type,
            subject_id=subject_id,
            meaning=credentials.meaning,
            signer=signature.signer,
            signature_id=signature.id,
            signed_at=signature.ts,
        )
        session.add(row)
        return row

    def signatures_of(self, session: Session, subject_type: str, subject_id: str) -> list[RecordSignature]:
        query = select(RecordSignature).where(
            RecordSignature.subject_type == subject_type, RecordSignature.subject_id == subject_id
        )
        return list(session.scalars(query.order_by(RecordSignature.signed_at)))


def check_version(row: BatchStep | Batch, expected: int | None, what: str) -> None:
    """Raise Conflict when the client's ``expected`` version is stale."""
    if expected is not None and row.version != expected:
        who = getattr(row, "ended_by", None) or getattr(row, "started_by", None) or "someone"
        raise Conflict(
            f"{what} was changed by {who} while you were working on it (version {row.version}, yours "
            f"{expected}); reload it and check before you try again"
        )


def find_meaning(signatures: Sequence[Credentials], meaning: str, what: str) -> Credentials:
    """The credentials given for ``meaning``; ValidationError when missing."""
    for cred in signatures:
        if cred.meaning == meaning:
            return cred
    raise ValidationError(f"{what} needs a {meaning!r} signature: give the signer's user id and password")
