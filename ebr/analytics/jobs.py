"""The scheduled evaluation after each release: rules of every declared parameter → trend notifications.

Each released batch is evaluated once, in its own unit of work (the notification,
its audit event and the "evaluated" mark commit together); each notification opened
is sent to the alert notifier after the commit. A trend notification is not a
deviation: QA assesses it and signs the assessment.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ebr.analytics import charts, trends
from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.execution.models import Batch


def evaluate_released(services: Services, *, actor: str) -> dict[str, Any]:
    """Evaluate every released batch not evaluated yet, oldest first; a summary for the run ledger."""
    with services.session_factory() as session:
        numbers = trends.unevaluated_batches(session)
    opened: list[dict[str, Any]] = []
    for number in numbers:
        with unit_of_work(services.session_factory) as session:
            batch = session.scalars(select(Batch).where(Batch.number == number)).one()
            rows = trends.evaluate_batch(
                session, services.audit, services.clock, actor=actor, batch=batch, chart_svg=charts.control_chart_svg
            )
            found = [{"notification": r.number, "parameter": r.parameter_id, "batch": number} for r in rows]
        for details in found:
            services.users.notifier.alert("analytics.trend.opened", details)
        opened += found
    return {"evaluated": len(numbers), "notifications": [o["notification"] for o in opened]}
