"""Refusals worth a reviewer's eye: equipment that could not be used, a container that was refused.

A refusal changes nothing (its transaction rolls back), so it is recorded afterwards
in its own transaction as an audit event ``batch.step.refused`` on the step, with
what was refused and why; QA's review lists it as an exception
(``ebr.execution.review``).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ebr.execution.context import Context
from ebr.execution.engine import entity

EQUIPMENT = "equipment refusal"
MATERIAL = "material refusal"
ACTION = "batch.step.refused"


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
