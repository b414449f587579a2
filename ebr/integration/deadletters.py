"""Inbound messages given up on: dead-lettered by the AMQP consumer after their last failed attempt.

The broker keeps the message itself on the channel's dead-letter queue; the database
keeps what the administrator needs to act (``ebr erp status``, ``/admin/integration``):
which message, on which channel, how often it was tried and the last error. Nothing of
the message was applied: its own transaction rolled back on every attempt.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ebr.core.clock import Clock
from ebr.core.ids import new_id
from ebr.integration.models import InboundDeadLetter
from ebr.integration.redelivery import DeadLetter

BODY_KEPT = 256 * 1024
"""Characters of a dead letter's body kept in the database (the whole message is on the queue)."""


def record(session: Session, *, clock: Clock, channel: str, letter: DeadLetter) -> InboundDeadLetter:
    """Keep ``letter`` for the administrator; a message dead-lettered again updates its row."""
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
    return row


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
