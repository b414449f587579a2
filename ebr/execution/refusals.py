"""Refusals worth a reviewer's eye: equipment that could not be used, a container that was refused,
a person not qualified for the step.

A refusal changes nothing (its transaction rolls back), so it is recorded afterwards
in its own transaction as an audit event ``batch.step.refused`` on the step, with
what was refused and why; QA's review lists it as an exception
(``ebr.execution.review``). :func:`kind_of` is the one rule, used by the browser and
the JSON API alike, for which refusals are recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from ebr.core.errors import EbrError, NotFound, ValidationError
from ebr.execution.context import Context
from ebr.execution.engine import entity
from ebr.training.errors import NotQualified
from equipment.errors import EquipmentNotUsable

EQUIPMENT = "equipment refusal"
MATERIAL = "material refusal"
TRAINING = "training refusal"
ACTION = "batch.step.refused"


def kind_of(error: EbrError, values: Mapping[str, Any] | None = None) -> str | None:
    """Which refusal ``error`` is for QA's review (equipment or material), or None when it is none.

    Equipment that may not be used (in use, dirty, out of calibration) is an equipment
    refusal; a scanned container refused (wrong material, lot not released, expired,
    unknown, not enough on hand) is a material refusal; a person missing a required, valid
    training is a training refusal.
    """
    if isinstance(error, EquipmentNotUsable):
        return EQUIPMENT
    if isinstance(error, NotQualified):
        return TRAINING
    if values and "container" in values and isinstance(error, ValidationError | NotFound):
        return MATERIAL
    return None


def record_refusal(session: Session, ctx: Context, *, actor: str, ref: str, path: str, kind: str, message: str) -> None:
    """Audit that ``actor`` was refused on step ``path`` of batch ``ref`` (``kind``: equipment or material)."""
    batch = ctx.batch(session, ref)
    ctx.step(session, batch, path)
    ctx.record(
        session,
        actor=actor,
        action=ACTION,
        entity=entity(batch, path),
        after={"kind": kind, "message": message},
        reason=message,
    )
