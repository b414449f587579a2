"""The trend job after each release, and QA's signed assessment of a trend notification."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from audit.models import AuditEvent
from ebr.analytics import services as analytics
from ebr.analytics import trends
from ebr.analytics.jobs import evaluate_released
from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.core.errors import EbrError, StateError
from ebr.ops.records import reconcile
from tests.integration.analytics.conftest import PARAMETER
from tests.integration.analytics.support import Plant
from tests.integration.execution.conftest import PASSWORD


def _assess(services: Services, number: str, user: str = "quinn", password: str = PASSWORD) -> None:
    with unit_of_work(services.session_factory) as session:
        trends.assess(
            session, services.audit, services.signing, actor=user, number=number,
            assessment="Temperature probe replaced; the process is unchanged.", conclusion="monitor",
            user_id=user, password=password,
        )  # fmt: skip


def _actions(services: Services, entity: str) -> list[str]:
    with services.session_factory() as session:
        query = select(AuditEvent.action).where(AuditEvent.entity_id == entity).order_by(AuditEvent.seq)
        return list(session.scalars(query))


@pytest.mark.requirement("URS-CPV-002")
def test_a_release_beyond_the_limits_opens_one_notification_that_qa_assesses_with_a_signature(
    services: Services, plant: Plant
) -> None:
    baseline = [plant.released_batch(v) for v in ("20.0", "20.4", "19.8", "20.2", "19.9")]
    with unit_of_work(services.session_factory) as session:
        analytics.set_baseline(
            session, services.audit, actor="quinn", parameter_id=PARAMETER, batches=baseline, reason="PPQ"
        )
    assert evaluate_released(services, actor="system:scheduler") == {"evaluated": 5, "notifications": []}
    outlier = plant.released_batch("24.0")
    summary = evaluate_released(services, actor="system:scheduler")
    assert summary == {"evaluated": 1, "notifications": ["TN-000001"]}
    assert evaluate_released(services, actor="system:scheduler") == {"evaluated": 0, "notifications": []}
    with services.session_factory() as session:
        [row] = trends.notifications(session)
    assert (row.batch_number, row.parameter_id, row.status) == (outlier, PARAMETER, "open")
    assert row.rules == [{"rule": 1, "description": "one point beyond 3σ", "batches": [outlier]}]
    assert row.chart_svg.startswith("<?xml")
    assert "<svg" in row.chart_svg
    assert _actions(services, "TN-000001") == ["analytics.trend.opened"]
    # Every evaluation is in the trail, with or without a notification.
    assert _actions(services, baseline[0])[-1] == "analytics.batch.evaluated"
    assert _actions(services, outlier)[-1] == "analytics.batch.evaluated"
    with services.session_factory() as session:
        assert [f for f in reconcile(session).findings if f.table.startswith("analytics_")] == []

    with pytest.raises(EbrError):
        _assess(services, "TN-000001", password="wrong password")
    with services.session_factory() as session:
        assert trends.get_notification(session, "TN-000001").status == "open"
    assert "analytics.trend.assessed" not in _actions(services, "TN-000001")

    _assess(services, "TN-000001")
    with services.session_factory() as session:
        done = trends.get_notification(session, "TN-000001")
    assert (done.status, done.conclusion, done.assessed_by) == ("assessed", "monitor", "quinn")
    assert done.signature_id
    assert _actions(services, "TN-000001")[-2:] == ["signature.applied", "analytics.trend.assessed"]
    with pytest.raises(StateError, match="already assessed by quinn"):
        _assess(services, "TN-000001", user="queenie")


@pytest.mark.requirement("URS-CPV-002")
def test_someone_without_the_reviewed_signature_cannot_assess(services: Services, plant: Plant) -> None:
    baseline = [plant.released_batch(value) for value in ("20.0", "20.2")]
    with unit_of_work(services.session_factory) as session:
        analytics.set_baseline(
            session, services.audit, actor="quinn", parameter_id=PARAMETER, batches=baseline, reason="first two"
        )
    plant.released_batch("30.0")
    evaluate_released(services, actor="system:scheduler")
    with services.session_factory() as session:
        found = trends.notifications(session)
    assert len(found) == 1
    with pytest.raises(EbrError, match="not permitted"):
        _assess(services, found[0].number, user="sam")  # a supervisor: no 'sign.reviewed'
