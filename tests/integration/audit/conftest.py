"""Fixtures for the audit tests: an initialized installation that checkpoints every 5 events."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Connection, text

from audit.chain import Entity
from ebr.bootstrap import Services, build_services
from ebr.core.config import Settings
from ebr.trail.services import ensure_system_key

CHECKPOINT_EVERY = 5


@pytest.fixture
def audited(settings: Settings) -> Iterator[Services]:
    """Services with a system key, checkpointing every CHECKPOINT_EVERY events."""
    built = build_services(settings.with_overrides(checkpoint_every=CHECKPOINT_EVERY))
    ensure_system_key(built)
    yield built
    built.close()


Append = Callable[[int], None]


@pytest.fixture
def append(audited: Services) -> Append:
    """Append ``n`` events, one transaction each, about two batches in turn."""

    def run(n: int) -> None:
        for i in range(n):
            with audited.session_factory.begin() as session:
                audited.audit.record(
                    session,
                    actor="alice",
                    action="batch.step.value_recorded",
                    entity=Entity("batch", f"B-{i % 2}"),
                    before=None,
                    after={"value": f"{250 + i}.0", "unit": "L"},
                    reason="recorded at the scale",
                )

    return run


def drop_append_only_triggers(conn: Connection) -> None:
    """What an attacker with database access does first."""
    if conn.dialect.name == "postgresql":
        for table in ("audit_event", "audit_checkpoint"):
            conn.execute(text(f"DROP TRIGGER {table}_append_only ON {table}"))
            conn.execute(text(f"DROP TRIGGER {table}_no_truncate ON {table}"))
        return
    for table in ("audit_event", "audit_checkpoint"):
        conn.execute(text(f"DROP TRIGGER {table}_no_update"))
        conn.execute(text(f"DROP TRIGGER {table}_no_delete"))
