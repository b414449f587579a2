"""The inbound consumer's attempt log in the database: a killed consumer's count survives it.

Each call is its own short transaction, committed before the consumer goes on: the row
written by :meth:`SqlAttempts.start` is what a successor finds when the process dies
while the attempt runs (see :mod:`ebr.integration.redelivery`). No audit event: it is the
transport's bookkeeping, not a record (the dead letter it may lead to is audited).
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ebr.core.clock import Clock
from ebr.core.db import unit_of_work
from ebr.integration.models import InboundAttempt
from ebr.integration.redelivery import CRASHED, Tried


class SqlAttempts:
    """:class:`ebr.integration.redelivery.AttemptLog` in ``integration_inbound_attempt``."""

    def __init__(self, *, session_factory: sessionmaker[Session], clock: Clock) -> None:
        self.session_factory = session_factory
        self.clock = clock

    def start(self, queue: str, key: str) -> Tried:
        try:
            return self._start(queue, key)
        except IntegrityError:  # the same message id written by another consumer at that moment: the row exists now
            return self._start(queue, key)

    def failed(self, queue: str, key: str, error: str) -> int:
        try:
            return self._failed(queue, key, error)
        except IntegrityError:
            return self._failed(queue, key, error)

    def _start(self, queue: str, key: str) -> Tried:
        with unit_of_work(self.session_factory) as session:
            row = session.get(InboundAttempt, (queue, key), with_for_update=True)
            if row is None:
                row = InboundAttempt(queue=queue, key=key, attempts=0, running=False, error=None)
                session.add(row)
            elif row.running:  # the attempt before this one never ended: the consumer died in it
                row.attempts, row.error = row.attempts + 1, CRASHED
            row.running, row.updated_at = True, self.clock.now()
            return Tried(row.attempts, row.error)

    def _failed(self, queue: str, key: str, error: str) -> int:
        with unit_of_work(self.session_factory) as session:
            row = session.get(InboundAttempt, (queue, key), with_for_update=True)
            if row is None:  # a first delivery (not written down before it ran) failing
                row = InboundAttempt(queue=queue, key=key, attempts=0)
                session.add(row)
            row.attempts, row.running, row.error, row.updated_at = row.attempts + 1, False, error, self.clock.now()
            return row.attempts

    def interrupted(self, queue: str, key: str) -> None:
        with unit_of_work(self.session_factory) as session:
            row = session.get(InboundAttempt, (queue, key), with_for_update=True)
            if row is not None:
                row.running, row.updated_at = False, self.clock.now()

    def forget(self, queue: str, key: str) -> None:
        with unit_of_work(self.session_factory) as session:
            session.execute(delete(InboundAttempt).where(InboundAttempt.queue == queue, InboundAttempt.key == key))
