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
        trail = AuditTrail(after_append=checkpointer.after_append)
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
