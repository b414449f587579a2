"""Supervisor and QA work: the verification queue, deviations, review by exception, release.

The QA review page lists only the exceptions of a batch (:mod:`ebr.execution.review`:
how it ended, manual commands, interlock trips and alarms, deviations, corrections,
out-of-limit values, pending verifications), each with its context, a link to the
step's full record and QA's disposition (or the form to give one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from ebr.core.errors import EbrError, ValidationError
from ebr.execution import batches as batch_queries
from ebr.execution import deviations as deviation_queries
from ebr.execution import engine, yields
from ebr.execution import review as review_items
from ebr.execution.engine import pending_verification, required_meanings, signed_content
from ebr.execution.models import Batch, BatchStep, Deviation
from ebr.execution.rules import BatchStatus, Severity, deviation_signatures
from ebr.materials.services import Credentials
from ebr.review import services as qa_decisions
from ebr.web import access
from ebr.web.errors import status_for
from ebr.web.helpers import execution, field, read, version_field, work
from recipes.states import State

bp = Blueprint("review", __name__, url_prefix="/review", template_folder="templates")

SECOND_PERSON = ("verified", "witnessed")
# Batches whose completed steps may still be verified (not released, rejected or aborted).
OPEN_STATUSES = (BatchStatus.IN_EXECUTION.value, BatchStatus.COMPLETE.value, BatchStatus.REVIEWED.value)


def waiting_steps(session: Session) -> list[tuple[Batch, BatchStep, tuple[str, ...]]]:
    """Running phases of batches in execution whose completion needs a second person's signature."""
    ctx = execution().ctx
    found = []
    for batch in batch_queries.list_batches(session, status=BatchStatus.IN_EXECUTION.value):
        plan = ctx.plan(session, batch)
        rows = session.scalars(
            select(BatchStep).where(
                BatchStep.batch_id == batch.id, BatchStep.level == "phase", BatchStep.state == State.RUNNING.value
            )
        )
        for row in rows:
            meanings = tuple(m for m in required_meanings(plan.phase(row.path)) if m in SECOND_PERSON)
            if meanings:
                found.append((batch, row, meanings))
    return found


@dataclass(frozen=True)
class Unverified:
    """A completed step waiting for its ``verified`` signature: what was recorded, by whom, what is signed."""

    batch: Batch
    step: BatchStep
    performed_by: str
    content: dict[str, Any]

    @property
    def sid(self) -> str:
        """A token for element ids: the batch number and the step path."""
        return f"{self.batch.number}-{self.step.path}".replace(".", "-")


def unverified_steps(session: Session) -> list[Unverified]:
    """Completed phases whose verification was left for later, of batches not yet released, oldest first."""
    ctx = execution().ctx
    found = []
    for status in OPEN_STATUSES:
        for batch in batch_queries.list_batches(session, status=status):
            rows = session.scalars(
                select(BatchStep).where(
                    BatchStep.batch_id == batch.id, BatchStep.level == "phase", BatchStep.state == State.COMPLETE.value
                )
            )
            for row in rows:
                entries = pending_verification(row)
                if entries is None:
                    continue
                performed = [
                    s.signer for s in ctx.signatures_of(session, "batch_step", row.id) if s.meaning == "performed"
                ]
                who = performed[-1] if performed else row.ended_by or "—"
                found.append(Unverified(batch, row, who, signed_content(batch, row, entries)))
    return sorted(found, key=lambda u: (u.step.ended_at is None, u.step.ended_at))


def open_deviations(session: Session) -> list[tuple[Deviation, str]]:
    """Open deviations with the batch number they belong to, oldest first."""
    query = (
        select(Deviation, Batch.number)
        .join(Batch, Deviation.batch_id == Batch.id)
        .where(Deviation.status == "open")
        .order_by(Deviation.opened_at)
    )
    return [(dev, number) for dev, number in session.execute(query)]


def _queue(*, error: EbrError | None = None, verifying: str = "") -> ResponseReturnValue:
    with read() as session:
        steps = waiting_steps(session)
        unverified = unverified_steps(session)
        devs = open_deviations(session)
    page = render_template(
        "review/supervisor.html",
        steps=steps,
        unverified=unverified,
        deviations=devs,
        error=error,
        verifying=verifying,
    )
    return page, status_for(error) if error else 200


@bp.get("/verification")
@access.requires("deviation.handle")
def supervisor_queue() -> ResponseReturnValue:
    """Steps waiting for a second signature (running, or completed and left for verification), open deviations."""
    return _queue()


@bp.post("/batches/<number>/steps/<path:path>/verification")
@access.requires("sign.verified")
def verify_step(number: str, path: str) -> ResponseReturnValue:
    """Sign a completed step 'verified' from the queue; a refusal shows the queue again with the reason."""
    try:
        credentials = Credentials(
            user_id=field("sig_user", "User id").lower(),
            password=field("sig_password", "Password"),
            meaning=engine.LATER,
        )
        with work() as session:
            execution().verify_step(
                session, actor=access.user_id(), ref=number, path=path, signature=credentials, version=version_field()
            )
    except EbrError as error:
        return _queue(error=error, verifying=f"{number}-{path}".replace(".", "-"))
    flash(f"Step {path} of batch {number} verified.")
    return redirect(url_for("review.supervisor_queue"))


@bp.get("/deviations/<number>")
@access.requires("batch.view")
def deviation(number: str) -> ResponseReturnValue:
    """A deviation with its comments and signatures, and the form to comment and sign it."""
    ctx = execution().ctx
    with read() as session:
        dev = deviation_queries.get(session, ctx, number)
        signed = deviation_queries.signed_meanings(session, ctx, dev)
        batch = session.get(Batch, dev.batch_id)
    missing = [m for m in deviation_signatures(dev.severity) if m not in signed]
    return render_template(
        "review/deviation.html", dev=dev, batch=batch, signed=signed, missing=missing, severities=list(Severity)
    )


@bp.post("/deviations/<number>/sign")
@access.requires("deviation.handle")
def sign_deviation(number: str) -> ResponseReturnValue:
    """Comment on a deviation (optionally reclassify it) and sign it with the chosen meaning."""
    meaning = field("meaning", "Signature meaning")
    credentials = Credentials(
        user_id=field("sig_user", "User id").lower(), password=field("sig_password", "Password"), meaning=meaning
    )
    with work() as session:
        execution().handle_deviation(
            session,
            actor=access.user_id(),
            ref=number,
            comment=field("comment", "Comment"),
            signature=credentials,
            version=version_field(),
            investigation_ref=field("investigation_ref", "Investigation", required=False) or None,
            severity=field("severity", "Severity", required=False) or None,
        )
    flash(f"Deviation {number} signed ({meaning}).")
    return redirect(url_for("review.deviation", number=number))


@bp.post("/batches/<number>/deviations")
@access.requires("deviation.raise")
def raise_deviation(number: str) -> ResponseReturnValue:
    """Open a manual deviation on a batch (or one of its steps)."""
    with work() as session:
        dev = execution().open_deviation(
            session,
            actor=access.user_id(),
            ref=number,
            path=field("step_path", "Step", required=False) or None,
            severity=field("severity", "Severity"),
            description=field("description", "Description"),
        )
    flash(f"Deviation {dev.number} opened.")
    return redirect(url_for("review.deviation", number=dev.number))


@bp.get("/qa")
@access.requires("batch.review")
def qa_queue() -> ResponseReturnValue:
    """Batches waiting for QA: complete (to review) and reviewed (to release or reject)."""
    with read() as session:
        complete = batch_queries.list_batches(session, status=BatchStatus.COMPLETE.value)
        reviewed = batch_queries.list_batches(session, status=BatchStatus.REVIEWED.value)
        aborted = batch_queries.list_batches(session, status=BatchStatus.ABORTED.value)
    return render_template("review/qa_queue.html", complete=complete, reviewed=reviewed, aborted=aborted)


@bp.get("/batches/<number>")
@access.requires("batch.review")
def batch_review(number: str) -> ResponseReturnValue:
    """Review by exception: the batch's exceptions, each linked to its step, and the QA decisions."""
    ctx = execution().ctx
    with read() as session:
        batch = ctx.batch(session, number)
        exceptions = review_items.exceptions(session, batch)
        open_devs = deviation_queries.for_batch(session, batch, open_only=True)
        batch_yields, balances = yields.of_batch(session, batch)
    return render_template(
        "review/batch.html",
        batch=batch,
        exceptions=exceptions,
        yields=batch_yields,
        balances=balances,
        open_devs=open_devs,
        ended_complete=qa_decisions.ended_complete(batch),
        reviewable=batch.status in review_items.REVIEWABLE,
    )


@bp.post("/batches/<number>/exceptions")
@access.requires("batch.review")
def disposition(number: str) -> ResponseReturnValue:
    """QA's comment on one exception of the batch (required for each before release)."""
    with work() as session:
        qa_decisions.disposition(
            session,
            execution().ctx,
            actor=access.user_id(),
            ref=number,
            key=field("key", "Exception"),
            comment=field("comment", "Disposition"),
        )
    flash(f"Batch {number}: disposition recorded.")
    return redirect(url_for("review.batch_review", number=number) + "#exceptions")


def _decision(number: str, meaning: str) -> ResponseReturnValue:
    credentials = Credentials(
        user_id=field("sig_user", "User id").lower(), password=field("sig_password", "Password"), meaning=meaning
    )
    with work() as session:
        qa_decisions.decide(
            session,
            execution().ctx,
            actor=access.user_id(),
            ref=number,
            decision=meaning,
            signature=credentials,
            comment=(request.form.get("comment") or "").strip() or None,
            version=version_field(),
            confirm=(request.form.get("confirm") or "").strip() or None,
        )
    flash(f"Batch {number}: {meaning}.")
    return redirect(url_for("review.batch_review", number=number))


@bp.post("/batches/<number>/reviewed")
@access.requires("sign.reviewed")
def sign_reviewed(number: str) -> ResponseReturnValue:
    """Sign the batch record as reviewed."""
    return _decision(number, "reviewed")


@bp.post("/batches/<number>/release")
@access.requires("batch.release")
def release(number: str) -> ResponseReturnValue:
    """Release the batch (refused with open deviations, missing signatures, or for a participant)."""
    return _decision(number, "released")


@bp.post("/batches/<number>/reject")
@access.requires("batch.release")
def reject(number: str) -> ResponseReturnValue:
    """Reject the batch, with a reason."""
    if not (request.form.get("comment") or "").strip():
        raise ValidationError("a reason is required to reject a batch")
    return _decision(number, "rejected")
