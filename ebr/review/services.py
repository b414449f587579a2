"""QA's decisions on a completed batch: review by exception, release, reject — each signed.

Rules (21 CFR 211.192, Annex 11 §15):

* ``reviewed`` only for a complete batch; ``released`` only after ``reviewed``;
  ``rejected`` for a complete, reviewed or aborted batch, with a reason.
* Release is refused while a deviation is open, a completed step lacks one of
  its required signatures (a step completed with its verification left for later
  "waits for verification"), or any exception of the review
  (:mod:`ebr.execution.review`) has no QA disposition; the refusal lists every reason.
* A batch that did not end Complete (stopped) is released only by a signed decision
  that names it: the signer types the batch number and a justification, and the
  signed content says how the batch ended. An aborted batch can only be rejected.
* Nobody who took part in the batch (started, completed, recorded or signed any of
  its steps, entries or deviations, or gave it a manual command) may review,
  release or reject it, nor disposition its exceptions.

Each decision signs the batch (subject ``batch``/number) through the execution
context, changes its status and appends one audit event, in the caller's transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.chain import Entity
from ebr.core.errors import StateError, ValidationError
from ebr.execution import deviations
from ebr.execution import review as exceptions
from ebr.execution.context import Context, check_version
from ebr.execution.engine import pending_verification, required_meanings
from ebr.execution.models import Batch, BatchStep, RecordSignature, StepEntry
from ebr.execution.rules import BatchStatus
from ebr.materials.services import Credentials
from recipes.states import State
from signatures.signing import require_own_signature

PARTS = ("batch_step", "deviation", "step_entry")
NEXT = {
    "reviewed": ((BatchStatus.COMPLETE,), BatchStatus.REVIEWED),
    "released": ((BatchStatus.REVIEWED,), BatchStatus.RELEASED),
    "rejected": ((BatchStatus.COMPLETE, BatchStatus.REVIEWED, BatchStatus.ABORTED), BatchStatus.REJECTED),
}


def participants(session: Session, batch: Batch) -> set[str]:
    """Everyone who executed, recorded or signed anything of ``batch`` (system actors excluded)."""
    people: set[str] = set()
    for row in session.scalars(select(BatchStep).where(BatchStep.batch_id == batch.id)):
        people.update(p for p in (row.started_by, row.ended_by) if p)
    people.update(session.scalars(select(StepEntry.recorded_by).where(StepEntry.batch_id == batch.id)))
    # QA's own review and approval of a deviation is oversight, not taking part.
    signed = select(RecordSignature.signer).where(
        RecordSignature.batch_id == batch.id,
        RecordSignature.subject_type.in_(PARTS),
        RecordSignature.meaning.not_in(("reviewed", "approved")),
    )
    people.update(session.scalars(signed))
    # Holding, restarting, stopping or aborting the batch or a phase is taking part too.
    people.update(item.by for item in exceptions.manual_commands(session, batch))
    return {p for p in people if not p.startswith("system:")}


def release_blockers(session: Session, ctx: Context, batch: Batch) -> list[str]:
    """Why ``batch`` cannot be released now (empty when it can)."""
    problems = [
        f"deviation {d.number} is still open ({d.severity}: {d.description})"
        for d in deviations.for_batch(session, batch, open_only=True)
    ]
    plan = ctx.plan(session, batch)
    steps = session.scalars(
        select(BatchStep).where(
            BatchStep.batch_id == batch.id, BatchStep.level == "phase", BatchStep.state == State.COMPLETE.value
        )
    )
    for step in steps:
        have = {s.meaning for s in ctx.signatures_of(session, "batch_step", step.id)}
        missing = [m for m in required_meanings(plan.phase(step.path)) if m not in have]
        if pending_verification(step) is not None:
            problems.append(
                f"step {step.path} waits for verification: a supervisor signs it 'verified' from the "
                "verification queue first"
            )
            missing = [m for m in missing if m != "verified"]
        if missing:
            problems.append(f"step {step.path} lacks its {', '.join(missing)} signature(s)")
    problems.extend(exceptions.undispositioned(session, batch))
    return problems


def ended_complete(batch: Batch) -> bool:
    """True when the batch's procedure ended in ISA-88 Complete (not stopped, aborted or held)."""
    return batch.state == State.COMPLETE.value


def _check_named_release(batch: Batch, comment: str | None, confirm: str | None) -> None:
    """A batch that did not end Complete is released only by a decision that names it and says why."""
    if ended_complete(batch):
        return
    problems = []
    if (confirm or "").strip() != batch.number:
        problems.append(f"type the batch number {batch.number} to confirm releasing a batch that ended {batch.state}")
    if not (comment or "").strip():
        problems.append(f"give the justification for releasing a batch that ended {batch.state}")
    if problems:
        raise ValidationError(f"batch {batch.number} ended {batch.state}, not Complete", problems)


def _summary(batch: Batch, decision: str, comment: str | None) -> dict[str, Any]:
    """Exactly what the QA signer is shown and signs."""
    summary: dict[str, Any] = {
        "batch": batch.number,
        "recipe": f"{batch.recipe_name} {batch.recipe_version}",
        "product": batch.product_code,
        "size": f"{batch.size} {batch.size_unit}",
        "decision": decision,
        "comment": comment,
    }
    if not ended_complete(batch):
        summary["ended"] = batch.state
        summary["statement"] = f"batch {batch.number} ended {batch.state}, not Complete, and is {decision} knowingly"
    return summary


def decide(
    session: Session,
    ctx: Context,
    *,
    actor: str,
    ref: str,
    decision: str,
    signature: Credentials,
    comment: str | None = None,
    version: int | None = None,
    confirm: str | None = None,
) -> Batch:
    """Sign ``decision`` (reviewed, released or rejected) on batch ``ref``; see the module's rules.

    ``confirm`` is the batch number typed by the signer; it is needed to release a
    batch that did not end Complete.
    """
    if decision not in NEXT:
        raise ValidationError(f"unknown decision {decision!r}; use reviewed, released or rejected")
    require_own_signature(actor, signature.user_id)
    if signature.meaning != decision:
        raise ValidationError(f"the signature's meaning must be {decision!r}, not {signature.meaning!r}")
    if decision == "rejected" and not (comment or "").strip():
        raise ValidationError("a rejection needs a reason")
    batch = ctx.batch(session, ref, lock=True)
    check_version(batch, version, f"batch {batch.number}")
    allowed, target = NEXT[decision]
    if batch.status not in {s.value for s in allowed}:
        states = " or ".join(s.value for s in allowed)
        raise StateError(f"batch {batch.number} is {batch.status}; it can be {decision} only when {states}")
    if decision == "released":
        _check_named_release(batch, comment, confirm)
        if problems := release_blockers(session, ctx, batch):
            raise ValidationError(f"batch {batch.number} cannot be released", problems)
    not_by = dict.fromkeys(participants(session, batch), "took part in this batch")
    ctx.sign(
        session,
        batch=batch,
        subject_type="batch",
        subject_id=batch.number,
        content=_summary(batch, decision, comment),
        credentials=signature,
        reason=comment,
        not_by=not_by,
    )
    before = batch.status
    batch.status = target.value
    session.flush()
    ctx.record(
        session,
        actor=actor,
        action=f"batch.{decision}",
        entity=Entity("batch", batch.number),
        before={"status": before},
        after={"status": batch.status, "state": batch.state, "signed_by": signature.user_id},
        reason=comment,
    )
    if decision == "released":
        # A tree head at every release: the released batch's trail is sealed with it, and
        # a trail that does not verify since the previous tree head refuses the release.
        ctx.audit.seal(session)
    return batch


def disposition(session: Session, ctx: Context, *, actor: str, ref: str, key: str, comment: str) -> None:
    """QA's comment on one review exception (see :func:`ebr.execution.review.disposition`); never by a participant."""
    batch = ctx.batch(session, ref)
    exceptions.disposition(
        session, ctx, actor=actor, ref=ref, key=key, comment=comment, not_by=participants(session, batch)
    )
