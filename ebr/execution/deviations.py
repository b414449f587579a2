"""Deviations: opened by the engine (out of limit, time exceeded, trip) or by hand, closed by signatures.

The signatures a deviation needs depend on its severity
(:data:`ebr.execution.rules.DEVIATION_SIGNATURES`). A step blocked by a deviation
may complete once the deviation carries a comment and a supervisor's ``verified``
signature; the deviation itself closes when every required signature is there.
Nobody signs twice and the person who opened it does not verify it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audit.chain import Entity
from ebr.core.errors import NotFound, StateError, ValidationError
from ebr.core.ids import new_id
from ebr.execution.context import Context, check_version
from ebr.execution.models import Batch, Deviation
from ebr.execution.rules import ACKNOWLEDGED_BY, DeviationKind, Severity, deviation_signatures
from ebr.materials.services import Credentials
from signatures.signing import require_own_signature

OPEN = "open"
CLOSED = "closed"


def deviation_json(dev: Deviation, signatures: list[str] | None = None) -> dict[str, Any]:
    """The API and CLI view of a deviation."""
    return {
        "id": dev.id,
        "number": dev.number,
        "batch_id": dev.batch_id,
        "step": dev.step_path,
        "kind": dev.kind,
        "severity": dev.severity,
        "status": dev.status,
        "description": dev.description,
        "comment": dev.comment,
        "investigation_ref": dev.investigation_ref,
        "opened_at": dev.opened_at,
        "opened_by": dev.opened_by,
        "closed_at": dev.closed_at,
        "required_signatures": list(deviation_signatures(dev.severity)),
        "signatures": signatures or [],
        "version": dev.version,
    }


def open_deviation(
    session: Session,
    ctx: Context,
    *,
    actor: str,
    batch: Batch,
    step_path: str | None,
    kind: DeviationKind | str,
    severity: Severity | str,
    description: str,
) -> Deviation:
    """Open a deviation on ``batch`` (and a step) and audit it."""
    try:
        kind, severity = DeviationKind(kind), Severity(severity)
    except ValueError as exc:
        raise ValidationError(
            f"deviation: {exc}; kinds are {', '.join(DeviationKind)}, severities {', '.join(Severity)}"
        ) from None
    if not description.strip():
        raise ValidationError("a deviation needs a description of what happened")
    count = session.scalar(select(func.count()).select_from(Deviation).where(Deviation.batch_id == batch.id)) or 0
    dev = Deviation(
        id=new_id(),
        number=f"DEV-{batch.number}-{count + 1:02d}",
        batch_id=batch.id,
        step_path=step_path,
        kind=kind.value,
        severity=severity.value,
        status=OPEN,
        description=description,
        comment="",
        opened_at=ctx.clock.now(),
        opened_by=actor,
    )
    session.add(dev)
    session.flush()
    after = {
        "batch": batch.number,
        "step": step_path,
        "kind": kind.value,
        "severity": severity.value,
        "description": description,
    }
    ctx.record(session, actor=actor, action="deviation.opened", entity=Entity("deviation", dev.number), after=after)
    return dev


def get(session: Session, ctx: Context, ref: str) -> Deviation:
    """The deviation by id or number; raises NotFound."""
    dev = session.scalars(select(Deviation).where((Deviation.id == ref) | (Deviation.number == ref))).first()
    if dev is None:
        raise NotFound(f"no deviation {ref!r}; the batch's deviations are listed with it")
    return dev


def signed_meanings(session: Session, ctx: Context, dev: Deviation) -> dict[str, str]:
    """meaning → signer of the signatures on ``dev``."""
    return {s.meaning: s.signer for s in ctx.signatures_of(session, "deviation", dev.id)}


def handle(
    session: Session,
    ctx: Context,
    *,
    actor: str,
    ref: str,
    version: int | None,
    comment: str,
    signature: Credentials,
    investigation_ref: str | None = None,
    severity: str | None = None,
) -> Deviation:
    """Comment on (and possibly reclassify) a deviation and sign it; closes it when complete.

    The signer is the person signed in (NotPermitted otherwise): each required signature is
    given by its signer in their own session.
    """
    require_own_signature(actor, signature.user_id)
    dev = get(session, ctx, ref)
    check_version(dev, version, f"deviation {dev.number}")  # type: ignore[arg-type]
    if dev.status != OPEN:
        raise StateError(f"deviation {dev.number} is {dev.status}; nothing more can be signed")
    if not comment.strip():
        raise ValidationError(f"deviation {dev.number}: a comment explaining the assessment is required")
    before = {"comment": dev.comment, "severity": dev.severity, "investigation_ref": dev.investigation_ref}
    if severity is not None and severity != dev.severity:
        dev.severity = Severity(severity).value
    required = deviation_signatures(dev.severity)
    signed = signed_meanings(session, ctx, dev)
    if signature.meaning not in required:
        raise ValidationError(
            f"deviation {dev.number} ({dev.severity}) needs signatures {', '.join(required)}, not {signature.meaning!r}"
        )
    if signature.meaning in signed:
        raise StateError(
            f"deviation {dev.number} already has a {signature.meaning!r} signature by {signed[signature.meaning]}"
        )
    excluded = {user: f"already signed this deviation as {meaning}" for meaning, user in signed.items()}
    if not dev.opened_by.startswith("system:"):
        excluded.setdefault(dev.opened_by, "opened this deviation")
    batch = session.get(Batch, dev.batch_id)
    assert batch is not None
    dev.comment = comment.strip() if not dev.comment else f"{dev.comment}\n{comment.strip()}"
    if investigation_ref:
        dev.investigation_ref = investigation_ref
    content = deviation_json(dev, sorted(signed)) | {"signing": signature.meaning}
    ctx.sign(
        session,
        batch=batch,
        subject_type="deviation",
        subject_id=dev.id,
        content=content,
        credentials=signature,
        reason=comment,
        not_by=excluded,
    )
    if set(required) <= set(signed) | {signature.meaning}:
        dev.status = CLOSED
        dev.closed_at = ctx.clock.now()
    session.flush()
    after = {
        "comment": dev.comment,
        "severity": dev.severity,
        "investigation_ref": dev.investigation_ref,
        "signed": signature.meaning,
        "status": dev.status,
    }
    ctx.record(
        session,
        actor=actor,
        action="deviation.signed",
        entity=Entity("deviation", dev.number),
        before=before,
        after=after,
        reason=comment,
    )
    return dev


def blocking(session: Session, ctx: Context, batch: Batch, path: str) -> list[Deviation]:
    """Open deviations of step ``path`` that still lack a comment and a ``verified`` signature."""
    query = select(Deviation).where(
        Deviation.batch_id == batch.id, Deviation.step_path == path, Deviation.status == OPEN
    )
    return [
        dev
        for dev in session.scalars(query)
        if not dev.comment or ACKNOWLEDGED_BY not in signed_meanings(session, ctx, dev)
    ]


def for_batch(session: Session, batch: Batch, *, open_only: bool = False) -> list[Deviation]:
    """The deviations of ``batch``, oldest first (``open_only``: those not closed)."""
    query = select(Deviation).where(Deviation.batch_id == batch.id)
    if open_only:
        query = query.where(Deviation.status == OPEN)
    return list(session.scalars(query.order_by(Deviation.opened_at)))
