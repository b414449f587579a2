"""Processes that append to one audit chain at the same time (importable for ``spawn``)."""

from __future__ import annotations

from pathlib import Path

from audit.chain import Entity
from audit.checkpoints import Checkpointer
from audit.trail import AuditTrail
from ebr.core.db import make_engine, make_session_factory


def append_many(url: str, keys_dir: str, log_dir: str, worker: int, count: int, every: int) -> None:
    """Append ``count`` events, one transaction each, with automatic checkpoints."""
    engine = make_engine(url)
    try:
        factory = make_session_factory(engine)
        checkpointer = Checkpointer(keys_dir=Path(keys_dir), log_dir=Path(log_dir), every=every)
        trail = AuditTrail(after_append=checkpointer.after_append, after_commit=checkpointer.after_commit)
        for i in range(count):
            with factory.begin() as session:
                trail.record(
                    session,
                    actor=f"worker-{worker}",
                    action="load.event.appended",
                    entity=Entity("load", f"{worker}-{i}"),
                    after={"i": i},
                    reason="concurrency test",
                )
    finally:
        engine.dispose()


CHANGE_TABLE = "concurrency_change"


def change_and_record(url: str, worker: int, count: int, roll_back_every: int) -> None:
    """``count`` transactions, each one change row plus its event; every ``roll_back_every``-th fails after both."""
    from sqlalchemy import text

    engine = make_engine(url)
    try:
        factory = make_session_factory(engine)
        trail = AuditTrail()
        for i in range(count):
            key = f"{worker}-{i}"
            try:
                with factory.begin() as session:
                    session.execute(text(f"INSERT INTO {CHANGE_TABLE} (id) VALUES (:id)"), {"id": key})  # noqa: S608 - a constant
                    trail.record(session, actor=f"worker-{worker}", action="load.changed", entity=Entity("load", key))
                    if i % roll_back_every == roll_back_every - 1:
                        raise _RolledBack
            except _RolledBack:
                pass
    finally:
        engine.dispose()


class _RolledBack(Exception):
    """Makes a worker's transaction fail after its change and its event were written."""
