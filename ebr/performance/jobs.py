"""The scheduled check of the runtimes' heartbeats (job ``performance_comms``): the units of an
area whose runtime is silent or disconnected go down with the cause, in one audited transaction."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.performance import services as perf

STALE_AFTER = dt.timedelta(seconds=15)


def mark_silent_runtimes(services: Services, *, actor: str) -> dict[str, Any]:
    """Run the check once; a summary for the run ledger."""
    with unit_of_work(services.session_factory) as session:
        changed = perf.silent_runtimes(session, services.audit, services.clock, actor=actor, stale_after=STALE_AFTER)
    return {"down": changed}
