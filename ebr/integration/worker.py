"""The delivery worker: sends the outbox in order, retries with exponential backoff, keeps dead letters.

Per channel, messages leave in the order they were written; a message that fails
holds back the ones after it until its next attempt (an ERP must not see
"completed" before "started"). After ``max_attempts`` failures a message becomes a
dead letter: it stops blocking its channel and waits, with its last error, for an
admin's retry (``ebr erp outbox retry``, the integration page).

Several workers may run at once on PostgreSQL: each claims rows with
``FOR UPDATE SKIP LOCKED``. A worker that dies after the broker confirmed a message
but before its commit sends it again on restart, under the same message id.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from audit.chain import Entity
from audit.trail import AuditTrail
from ebr.core.clock import Clock
from ebr.core.errors import NotFound, StateError
from ebr.integration.models import OutboxMessage
from ebr.integration.settings import IntegrationSettings
from ebr.integration.transports import DeliveryError, Transport

log = logging.getLogger(__name__)


@dataclass
class Round:
    """What one pass of the worker did."""

    sent: int = 0
    failed: int = 0
    dead: int = 0


def backoff(attempts: int, *, base: float, cap: float) -> dt.timedelta:
    """The wait after ``attempts`` failures: base, 2·base, 4·base, … never more than ``cap``."""
    return dt.timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


class DeliveryWorker:
    """Delivers pending outbox messages through the transport of their channel."""

    def __init__(
        self,
        *,
        session_factory: sessionmaker[Session],
        clock: Clock,
        settings: IntegrationSettings,
        transports: Mapping[str, Transport],
        batch_size: int = 200,
    ) -> None:
        self.session_factory = session_factory
        self.clock = clock
        self.settings = settings
        self.transports = transports
        self.batch_size = batch_size

    def run_once(self) -> Round:
        """One pass over every channel; commits what it did."""
        result = Round()
        for channel, transport in self.transports.items():
            with self.session_factory.begin() as session:
                self._channel(session, channel, transport, result)
        return result

    def run(self, stop: threading.Event, *, interval: float = 0.05) -> None:
        """Deliver until ``stop`` is set, waking every ``interval`` seconds when idle."""
        while not stop.is_set():
            try:
                done = self.run_once()
            except SQLAlchemyError:
                # The database is away (restart, failover): nothing was marked, so nothing is lost.
                log.exception("outbox delivery pass failed; trying again in 1 s")
                stop.wait(1.0)
                continue
            if not (done.sent or done.failed):
                stop.wait(interval)

    def close(self) -> None:
        for transport in self.transports.values():
            transport.close()

    def _channel(self, session: Session, channel: str, transport: Transport, result: Round) -> None:
        query = (
            select(OutboxMessage)
            .where(OutboxMessage.channel == channel, OutboxMessage.status == "pending")
            .order_by(OutboxMessage.created_at, OutboxMessage.id)
            .limit(self.batch_size)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        now = self.clock.now()
        for row in session.scalars(query):
            if row.next_attempt_at > now:
                return  # the head of the channel waits for its retry; the rest wait behind it
            try:
                transport.send(row)
            except DeliveryError as exc:
                self._failed(row, str(exc), now, result)
                return
            row.status, row.sent_at, row.last_error = "sent", now, None
            row.attempts += 1
            result.sent += 1

    def _failed(self, row: OutboxMessage, error: str, now: dt.datetime, result: Round) -> None:
        row.attempts += 1
        row.last_error = error[:2000]
        if row.attempts >= self.settings.max_attempts:
            row.status = "dead"
            result.dead += 1
            log.error(
                "outbox message %s (%s) is a dead letter after %d attempts: %s",
                row.message_id,
                row.kind,
                row.attempts,
                error,
            )
            return
        wait = backoff(row.attempts, base=self.settings.backoff_seconds, cap=self.settings.backoff_cap_seconds)
        row.next_attempt_at = now + wait
        result.failed += 1
        log.warning(
            "outbox message %s failed (attempt %d), next in %ss: %s",
            row.message_id,
            row.attempts,
            wait.total_seconds(),
            error,
        )


def retry(
    session: Session, *, audit: AuditTrail, clock: Clock, actor: str, message_id: str, reason: str
) -> OutboxMessage:
    """Put a dead letter back in line (audited); raises NotFound or StateError."""
    row = session.scalars(select(OutboxMessage).where(OutboxMessage.message_id == message_id).with_for_update()).first()
    if row is None:
        raise NotFound(f"no outbox message {message_id!r}; `ebr erp outbox dead` lists the dead letters")
    if row.status != "dead":
        raise StateError(f"message {message_id} is {row.status}; only a dead letter can be retried")
    before = {"status": row.status, "attempts": row.attempts, "last_error": row.last_error}
    row.status, row.attempts, row.next_attempt_at = "pending", 0, clock.now()
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="integration.outbox.retried",
        entity=Entity("outbox_message", message_id),
        before=before,
        after={"status": row.status},
        reason=reason or "retried by an administrator",
    )
    return row


def backlog(session: Session) -> dict[tuple[str, str], int]:
    """(channel, status) → number of messages."""
    rows = session.execute(
        select(OutboxMessage.channel, OutboxMessage.status, func.count()).group_by(
            OutboxMessage.channel, OutboxMessage.status
        )
    )
    return {(channel, status): count for channel, status, count in rows}
