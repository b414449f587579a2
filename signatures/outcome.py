"""Recording a refused attempt so that it survives the caller's rollback.

A refused login or signature raises, and the caller's transaction rolls back with
everything in it. The audit of the refusal and the lockout counter must outlive
that rollback, so they are written in their own transaction — but only once the
caller's transaction has ended: the caller may hold the audit chain's lock
(PostgreSQL advisory lock, SQLite write lock) and a second writer would wait on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

# Work that writes in its own session and may return something to call after commit.
IndependentWork = Callable[[Session], Callable[[], None] | None]

_PENDING = "ebr.signatures.pending"


def _run(bind: Any, work: IndependentWork) -> None:
    with Session(bind, expire_on_commit=False) as own:
        with own.begin():
            after = work(own)
        if after is not None:
            after()


def _on_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return  # a savepoint or subtransaction ended; wait for the outermost one
    pending: list[tuple[Any, IndependentWork]] = session.info.pop(_PENDING, [])
    for bind, work in pending:
        _run(bind, work)


def record_independently(session: Session, work: IndependentWork) -> None:
    """Run ``work`` in a separate transaction now, or right after ``session``'s transaction ends."""
    bind = session.get_bind()
    if not session.in_transaction():
        _run(bind, work)
        return
    if not event.contains(session, "after_transaction_end", _on_end):
        event.listen(session, "after_transaction_end", _on_end)
    session.info.setdefault(_PENDING, []).append((bind, work))
