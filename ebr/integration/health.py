"""The integration's health, read from the database: per channel, the last message in and out,
the backlog, the dead letters out and the inbound messages dead-lettered (the admin page,
``ebr erp status`` and ``/metrics``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ebr.integration import deadletters
from ebr.integration.models import InboundMessage, OutboxMessage, ProcessOrder
from ebr.integration.settings import CHANNELS, IntegrationSettings


@dataclass(frozen=True)
class ChannelHealth:
    """One channel's state."""

    name: str
    transport: str
    last_in: dt.datetime | None
    last_out: dt.datetime | None
    received: int
    pending: int
    sent: int
    dead: int
    oldest_pending: dt.datetime | None
    dead_in: int = 0
    """Inbound messages dead-lettered (given up on after their last attempt, nothing applied)."""


def channels(session: Session, settings: IntegrationSettings) -> list[ChannelHealth]:
    """Every channel, configured or not, with its counts."""
    counts = {
        (channel, status): (count, oldest)
        for channel, status, count, oldest in session.execute(
            select(
                OutboxMessage.channel, OutboxMessage.status, func.count(), func.min(OutboxMessage.created_at)
            ).group_by(OutboxMessage.channel, OutboxMessage.status)
        )
    }
    dead_in = deadletters.counts(session)
    result = []
    for name in CHANNELS:
        inbound = session.execute(
            select(func.count(), func.max(InboundMessage.received_at)).where(InboundMessage.channel.like(f"{name}%"))
        ).one()
        last_out = session.scalar(select(func.max(OutboxMessage.sent_at)).where(OutboxMessage.channel == name))
        result.append(
            ChannelHealth(
                name=name,
                transport=settings.channel(name).transport,
                last_in=inbound[1],
                last_out=last_out,
                received=inbound[0],
                pending=counts.get((name, "pending"), (0, None))[0],
                sent=counts.get((name, "sent"), (0, None))[0],
                dead=counts.get((name, "dead"), (0, None))[0],
                oldest_pending=counts.get((name, "pending"), (0, None))[1],
                dead_in=dead_in.get(name, 0),
            )
        )
    return result


def dead_letters(session: Session, *, limit: int = 100) -> list[OutboxMessage]:
    """The dead letters, oldest first, with their last error."""
    query = select(OutboxMessage).where(OutboxMessage.status == "dead").order_by(OutboxMessage.created_at)
    return list(session.scalars(query.limit(limit)))


def messages(session: Session, *, status: str | None = None, limit: int = 50) -> list[OutboxMessage]:
    """Outbox messages, newest first, optionally of one status."""
    query = select(OutboxMessage).order_by(OutboxMessage.created_at.desc()).limit(limit)
    if status:
        query = query.where(OutboxMessage.status == status)
    return list(session.scalars(query))


def orders(session: Session) -> dict[str, int]:
    """Process orders by status."""
    rows = session.execute(select(ProcessOrder.status, func.count()).group_by(ProcessOrder.status))
    return {str(status): int(count) for status, count in rows}
