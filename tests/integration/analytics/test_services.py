"""Parameters across released batches, the control chart, baseline and the declaration rules."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from audit.models import AuditEvent
from ebr.analytics import services as analytics
from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.core.errors import ValidationError
from tests.integration.analytics.conftest import PARAMETER, declare
from tests.integration.analytics.support import Plant
from tests.integration.execution.conftest import SIMPLE, recipe


@pytest.mark.requirement("URS-CPV-001")
def test_values_come_from_released_batches_in_release_order_across_recipe_versions(
    services: Services, plant: Plant
) -> None:
    first = plant.released_batch("20.5")
    second = plant.released_batch("21.0", version="2")  # the step moved to UP1.OP1.PH4
    with unit_of_work(services.session_factory) as session:
        unreleased = plant.ex.create_from_recipe(
            session, actor="sam", master=recipe(SIMPLE), version="1", size="100", order="PO-X"
        ).number
    with services.session_factory() as session:
        points = analytics.parameter_values(session, analytics.get_parameter(session, PARAMETER))
    assert [(p.batch_number, p.value, p.recipe_version) for p in points] == [
        (first, Decimal("20.5"), "1"),
        (second, Decimal("21.0"), "2"),
    ]
    assert unreleased not in {p.batch_number for p in points}
    assert (points[0].lsl, points[0].usl) == (Decimal(15), Decimal(30))  # from the control recipe
    assert points[0].released_at <= points[1].released_at


@pytest.mark.requirement("URS-CPV-001")
def test_the_chart_uses_the_baseline_and_flags_the_batch_beyond_its_limits(services: Services, plant: Plant) -> None:
    numbers = [plant.released_batch(v) for v in ("20.0", "20.4", "19.8", "20.2", "19.9")]
    with unit_of_work(services.session_factory) as session:
        analytics.set_baseline(
            session, services.audit, actor="quinn", parameter_id=PARAMETER, batches=numbers, reason="PPQ batches"
        )
    outlier = plant.released_batch("24.0")
    with services.session_factory() as session:
        chart = analytics.control_chart(session, PARAMETER)
    assert chart.baseline == numbers
    assert chart.limits is not None
    assert chart.limits.center == pytest.approx(20.06)
    assert [(b.rule, b.batch) for b in chart.breaks_of(outlier)] == [(1, outlier)]
    assert chart.capability is not None
    assert chart.capability.n == 6
    assert any("imprecise" in note for note in chart.capability.notes)
    assert (chart.lsl, chart.usl) == (Decimal(15), Decimal(30))
    with services.session_factory() as session:
        last_three = analytics.control_chart(session, PARAMETER, last=3)
    assert [p.batch_number for p in last_three.points] == [*numbers[-2:], outlier]


def test_a_baseline_of_batches_that_are_not_released_is_refused_naming_each(services: Services, plant: Plant) -> None:
    number = plant.released_batch("20.0")
    with pytest.raises(ValidationError) as refused, unit_of_work(services.session_factory) as session:
        analytics.set_baseline(
            session, services.audit, actor="quinn", parameter_id=PARAMETER, batches=[number, "B-NOPE"], reason="x"
        )
    assert refused.value.problems == ["batch B-NOPE: not released, not of FG-SIMPLE, or without a value"]
    with services.session_factory() as session:
        assert analytics.get_parameter(session, PARAMETER).baseline is None


@pytest.mark.requirement("URS-CPV-001")
def test_a_declaration_is_audited_and_a_bad_one_names_every_problem(services: Services) -> None:
    with services.session_factory() as session:
        events = session.scalars(select(AuditEvent.action).where(AuditEvent.entity_id == PARAMETER)).all()
    assert events == []
    declare(services)
    declare(services, title="Mixing temperature (°C)", reason="title clarified")
    with services.session_factory() as session:
        events = session.scalars(
            select(AuditEvent.action).where(AuditEvent.entity_id == PARAMETER).order_by(AuditEvent.seq)
        ).all()
    assert events == ["analytics.parameter.declared", "analytics.parameter.changed"]
    with pytest.raises(ValidationError) as refused:
        declare(services, parameter_id="bad id!", sources=[], lsl="5", usl="4", reason=" ")
    assert len(refused.value.problems) == 4
    assert "lower limit 5 must be below the upper limit 4" in str(refused.value)
