"""Golden batches: reference band of a phase trend aligned to phase start, points outside listed.

The trend rows are made by the equipment runtime's own TrendBuffer (equipment.trend) from
tag values of the example plant's R-101.temperature, as the runtime records them while a
phase runs: the batches themselves are real (made and released through the services).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from audit.models import AuditEvent
from ebr.analytics import golden
from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.core.errors import StateError, ValidationError
from ebr.execution.models import Batch, BatchStep
from equipment.config import load_plant_config
from equipment.drivers.base import Quality, TagValue
from equipment.trend import TrendBuffer
from tests.integration.analytics.support import TEMPERATURE, Plant
from tests.integration.execution.conftest import PASSWORD, SIMPLE, recipe
from tests.support.auth import login

PLANT = Path(__file__).resolve().parents[3] / "equipment" / "examples" / "plant.yaml"
TAG = "R-101.temperature"


def record_trend(services: Services, number: str, values: list[float]) -> None:
    """One bucket a minute from the phase's start, through the runtime's TrendBuffer."""
    buffer = TrendBuffer(load_plant_config(PLANT))
    with unit_of_work(services.session_factory) as session:
        batch = session.scalars(select(Batch).where(Batch.number == number)).one()
        step = session.scalars(
            select(BatchStep).where(BatchStep.batch_id == batch.id, BatchStep.path == TEMPERATURE)
        ).one()
        assert step.started_at is not None
        for minute, value in enumerate(values):
            buffer.add(TagValue(tag=TAG, value=value, quality=Quality.GOOD), active_units={"R-101"})
            at = step.started_at + dt.timedelta(minutes=minute)
            session.add_all(buffer.flush(at, {"R-101": f"{batch.id}:{TEMPERATURE}"}, force=True))


def ramp(offset: float, bump_at: int | None = None) -> list[float]:
    return [40 + 0.5 * m + offset + (3.0 if m == bump_at else 0.0) for m in range(11)]


def test_a_batch_is_compared_with_the_band_of_its_reference_batches(
    app: Flask, services: Services, plant: Plant
) -> None:
    references = [plant.released_batch(v) for v in ("20.0", "20.1", "19.9")]
    suspect = plant.released_batch("20.0")
    for number, offset in zip(references, (-0.2, 0.0, 0.2), strict=True):
        record_trend(services, number, ramp(offset))
    record_trend(services, suspect, ramp(0.05, bump_at=5))
    with unit_of_work(services.session_factory) as session:
        for number in references:
            golden.mark_reference(session, services.audit, services.clock, actor="quinn", ref=number, reason="PPQ")
    with services.session_factory() as session:
        found = golden.overlay(session, ref=suspect, path=TEMPERATURE, tag=TAG)
    assert found.references == sorted(references)
    assert found.band.seconds[0] == 0.0
    assert found.band.seconds[-1] == 600.0
    assert [(o.second, round(o.value, 2)) for o in found.outside] == [(300.0, 45.55)]
    with services.session_factory() as session:
        calm = golden.overlay(session, ref=references[1], path=TEMPERATURE, tag=TAG)
    assert calm.outside == []
    assert len(calm.references) == 2  # a reference is compared with the others

    client = app.test_client()
    login(client, "quinn", PASSWORD)
    page = client.get(f"/analytics/golden/{suspect}?path={TEMPERATURE}&tag={TAG}")
    assert page.status_code == 200
    assert "45.55" in page.get_data(as_text=True)
    image = client.get(f"/analytics/golden/{suspect}/chart.svg?path={TEMPERATURE}&tag={TAG}")
    assert image.mimetype == "image/svg+xml"


def test_only_a_released_batch_with_a_reason_becomes_a_reference_and_it_is_audited(
    services: Services, plant: Plant
) -> None:
    number = plant.released_batch("20.0")
    with pytest.raises(ValidationError, match="needs a reason"), unit_of_work(services.session_factory) as session:
        golden.mark_reference(session, services.audit, services.clock, actor="quinn", ref=number, reason=" ")
    with unit_of_work(services.session_factory) as session:
        golden.mark_reference(session, services.audit, services.clock, actor="quinn", ref=number, reason="PPQ-1")
    with pytest.raises(StateError, match="already a reference"), unit_of_work(services.session_factory) as session:
        golden.mark_reference(session, services.audit, services.clock, actor="quinn", ref=number, reason="again")
    with unit_of_work(services.session_factory) as session:
        golden.unmark_reference(session, services.audit, actor="quinn", ref=number, reason="superseded by PPQ-2")
    with services.session_factory() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.entity_id == number, AuditEvent.action.like("analytics.%"))
        ).all()
    assert actions == ["analytics.reference.marked", "analytics.reference.removed"]
    with unit_of_work(services.session_factory) as session:
        unreleased = plant.ex.create_from_recipe(
            session, actor="sam", master=recipe(SIMPLE), version="1", size="100", order="PO-U"
        ).number
    with pytest.raises(StateError, match="only a released batch"), unit_of_work(services.session_factory) as session:
        golden.mark_reference(session, services.audit, services.clock, actor="quinn", ref=unreleased, reason="x")
