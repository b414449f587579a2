"""Inbound messages given up on: dead-lettered by the AMQP consumer after their last failed attempt.

The broker keeps the message itself on the channel's dead-letter queue; the database
keeps what the administrator needs to act (``ebr erp status``, ``/admin/integration``):
which message, on which channel, how often it was tried and the last error. Nothing of
the message was applied: its own transaction rolled back on every attempt. Keeping a
letter and replaying it are audited (``integration.inbound.dead_lettered``,
``integration.inbound.replayed``).

A replay (``ebr erp deadletters replay``, the page's button) applies the stored copy
again once its cause is fixed, in one transaction with the letter's removal. Only ERP
letters (B2MML) are replayed: a LIMS result's authority is the LIMS token it carried,
which the stored copy does not hold, so the LIMS sends those again. A copy that is not
byte for byte the message (cut at :data:`BODY_KEPT`, or not UTF-8) is not replayed: the
broker's dead-letter queue holds the original.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audit.chain import Entity
from audit.trail import AuditTrail
from ebr.core.clock import Clock
from ebr.core.errors import NotFound, StateError
from ebr.core.ids import new_id
from ebr.integration.models import InboundDeadLetter
from ebr.integration.redelivery import DeadLetter

BODY_KEPT = 256 * 1024
"""Characters of a dead letter's body kept in the database (the whole message is on the queue)."""


ACTOR = "system:integration"
REPLAYABLE = ("erp:",)
"""Channel prefixes whose letters can be replayed (see the module docstring)."""


def record(session: Session, *, audit: AuditTrail, clock: Clock, channel: str, letter: DeadLetter) -> InboundDeadLetter:
    """Keep ``letter`` for the administrator (audited); a message dead-lettered again updates its row."""
    digest = hashlib.sha256(letter.body).hexdigest()
    row = session.scalars(
        select(InboundDeadLetter).where(
            InboundDeadLetter.channel == channel,
            InboundDeadLetter.message_id == letter.message_id,
            InboundDeadLetter.body_sha256 == digest,
        )
    ).first()
    if row is None:
        row = InboundDeadLetter(
            id=new_id(), channel=channel, queue=letter.queue, message_id=letter.message_id, body_sha256=digest,
            body=letter.body.decode("utf-8", errors="replace")[:BODY_KEPT], error=letter.error,
            attempts=letter.attempts, dead_at=clock.now(),
        )  # fmt: skip
        session.add(row)
    else:
        row.error, row.attempts, row.dead_at = letter.error, row.attempts + letter.attempts, clock.now()
    session.flush()
    audit.record(
        session, actor=ACTOR, action="integration.inbound.dead_lettered", entity=Entity("inbound_dead_letter", row.id),
        after=_summary(row),
    )  # fmt: skip
    return row


def replayable(session: Session, letter_id: str) -> tuple[InboundDeadLetter, bytes]:
    """The letter (locked) and its message's bytes; NotFound, or StateError naming why it cannot be replayed."""
    row = session.get(InboundDeadLetter, letter_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no inbound dead letter {letter_id!r}; `ebr erp deadletters` lists them")
    if not row.channel.startswith(REPLAYABLE):
        raise StateError(
            f"dead letter {letter_id} came from {row.channel}: LIMS results are not replayed from a copy "
            "(their token is not kept); ask the LIMS to send the message again"
        )
    body = row.body.encode("utf-8")
    if hashlib.sha256(body).hexdigest() != row.body_sha256:
        raise StateError(
            f"the stored copy of dead letter {letter_id} is not the whole message (cut at {BODY_KEPT} characters "
            f"or not UTF-8); replay the original from the queue {row.queue}.dead"
        )
    return row, body


def replayed(
    session: Session, *, audit: AuditTrail, row: InboundDeadLetter, actor: str, reason: str, outcome: list[str]
) -> None:
    """Remove the replayed letter (audited with what became of the message), in the replay's transaction."""
    before = _summary(row)
    session.delete(row)
    session.flush()
    audit.record(
        session, actor=actor, action="integration.inbound.replayed", entity=Entity("inbound_dead_letter", row.id),
        before=before, after={"outcome": outcome}, reason=reason,
    )  # fmt: skip


def _summary(row: InboundDeadLetter) -> dict[str, object]:
    return {
        "channel": row.channel, "queue": row.queue, "message_id": row.message_id, "body_sha256": row.body_sha256,
        "attempts": row.attempts, "error": row.error,
    }  # fmt: skip


def recent(session: Session, *, limit: int = 100) -> list[InboundDeadLetter]:
    """The inbound dead letters, newest first."""
    return list(session.scalars(select(InboundDeadLetter).order_by(InboundDeadLetter.dead_at.desc()).limit(limit)))


def counts(session: Session) -> dict[str, int]:
    """Inbound dead letters per channel prefix (``erp``, ``lims``)."""
    rows = session.execute(select(InboundDeadLetter.channel, func.count()).group_by(InboundDeadLetter.channel))
    found: dict[str, int] = {}
    for channel, count in rows:
        name = str(channel).split(":", 1)[0]
        found[name] = found.get(name, 0) + int(count)
    return found
