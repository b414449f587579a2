"""Trend notifications: opened when a released batch completes a control-chart rule, closed by
QA's signed assessment. Each call takes a Session and does one unit of work; the
change and its audit event (and the signature) are in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audit.chain import Entity
from audit.trail import AuditTrail
from ebr.analytics.models import EvaluatedBatch, TrendNotification
from ebr.analytics.services import control_chart, parameters_of
from ebr.core.clock import Clock
from ebr.core.errors import Conflict, NotFound, StateError, ValidationError
from ebr.core.ids import new_id
from ebr.execution.models import Batch, RecordSignature
from ebr.execution.rules import BatchStatus
from signatures.signing import SigningService

CONCLUSIONS = ("no_action", "monitor", "investigate")


def _next_number(session: Session) -> str:
    count = session.scalar(select(func.count()).select_from(TrendNotification)) or 0
    return f"TN-{count + 1:06d}"


def evaluate_batch(
    session: Session, audit: AuditTrail, clock: Clock, *, actor: str, batch: Batch, chart_svg: Any
) -> list[TrendNotification]:
    """Evaluate the rules of every declared parameter of a released batch's product; a rule that
    this batch's point completes opens a trend notification (with the chart). Once per batch.

    ``chart_svg`` is a callable ``Chart -> str`` (the web-free chart renderer).
    """
    if batch.status != BatchStatus.RELEASED.value:
        raise StateError(f"batch {batch.number} is {batch.status}; only released batches are evaluated")
    if session.get(EvaluatedBatch, batch.id) is not None:
        return []
    opened = []
    for parameter in parameters_of(session, batch.product_code):
        released = session.scalar(
            select(RecordSignature.signed_at).where(
                RecordSignature.batch_id == batch.id,
                RecordSignature.subject_type == "batch",
                RecordSignature.meaning == BatchStatus.RELEASED.value,
            )
        )
        chart = control_chart(
            session, parameter.id, until=released + dt.timedelta(microseconds=1) if released else None
        )
        found = chart.breaks_of(batch.number)
        if not found:
            continue
        rules = [{"rule": b.rule, "description": b.description, "batches": list(b.batches)} for b in found]
        row = TrendNotification(
            id=new_id(),
            number=_next_number(session),
            parameter_id=parameter.id,
            batch_id=batch.id,
            batch_number=batch.number,
            rules=rules,
            chart_svg=chart_svg(chart),
            status="open",
            opened_at=clock.now(),
            opened_by=actor,
        )
        session.add(row)
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="analytics.trend.opened",
            entity=Entity("trend_notification", row.number),
            after={"parameter": parameter.id, "batch": batch.number, "rules": rules},
        )
        opened.append(row)
    session.add(EvaluatedBatch(batch_id=batch.id, evaluated_at=clock.now(), notifications=len(opened)))
    session.flush()
    # The evaluation itself is part of the batch's continued process verification, found or not.
    audit.record(
        session,
        actor=actor,
        action="analytics.batch.evaluated",
        entity=Entity("batch", batch.number),
        after={"notifications": [row.number for row in opened]},
    )
    return opened


def unevaluated_batches(session: Session) -> list[str]:
    """Numbers of released batches the trend job has not evaluated yet, oldest first."""
    done = select(EvaluatedBatch.batch_id)
    query = select(Batch.number).where(Batch.status == BatchStatus.RELEASED.value, Batch.id.not_in(done))
    return list(session.scalars(query.order_by(Batch.ended_at, Batch.number)))


def notifications(session: Session, *, status: str | None = None) -> list[TrendNotification]:
    query = select(TrendNotification).order_by(TrendNotification.opened_at.desc(), TrendNotification.number.desc())
    if status:
        query = query.where(TrendNotification.status == status)
    return list(session.scalars(query))


def get_notification(session: Session, number: str) -> TrendNotification:
    found = session.scalars(select(TrendNotification).where(TrendNotification.number == number)).first()
    if found is None:
        raise NotFound(f"no trend notification {number!r}; /analytics/notifications lists them")
    return found


def assessment_content(row: TrendNotification, assessment: str, conclusion: str) -> dict[str, Any]:
    """Exactly what QA is shown and signs."""
    return {
        "notification": row.number,
        "parameter": row.parameter_id,
        "batch": row.batch_number,
        "rules": row.rules,
        "assessment": assessment,
        "conclusion": conclusion,
    }


def assess(
    session: Session,
    audit: AuditTrail,
    signing: SigningService,
    *,
    actor: str,
    number: str,
    assessment: str,
    conclusion: str,
    user_id: str,
    password: str,
    version: int | None = None,
) -> TrendNotification:
    """QA's assessment of a trend notification, signed ``reviewed``; signature, change and audit event
    in the caller's transaction. Refused when already assessed or by someone other than the signer."""
    problems = []
    if not (assessment or "").strip():
        problems.append("assessment: write what QA concluded and why")
    if conclusion not in CONCLUSIONS:
        problems.append(f"conclusion {conclusion!r}: use one of {', '.join(CONCLUSIONS)}")
    if problems:
        raise ValidationError(f"trend notification {number} cannot be assessed", problems)
    if user_id != actor:
        raise ValidationError(f"sign as yourself ({actor}), not as {user_id}")
    row = get_notification(session, number)
    if version is not None and version != row.version:
        raise Conflict(f"trend notification {number} was changed meanwhile (version {row.version}); reload it")
    if row.status != "open":
        raise StateError(f"trend notification {number} is already assessed by {row.assessed_by}")
    signature = signing.sign(
        session,
        subject=Entity("trend_notification", row.number),
        content=assessment_content(row, assessment.strip(), conclusion),
        meaning="reviewed",
        reason=assessment.strip(),
        user_id=user_id,
        password=password,
    )
    row.status, row.assessment, row.conclusion = "assessed", assessment.strip(), conclusion
    row.assessed_by, row.assessed_at, row.signature_id = signature.signer, signature.ts, signature.id
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="analytics.trend.assessed",
        entity=Entity("trend_notification", row.number),
        before={"status": "open"},
        after={"status": row.status, "conclusion": conclusion, "signature": signature.id},
        reason=row.assessment,
    )
    return row
