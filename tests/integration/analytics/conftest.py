"""Fixtures for analytics: a plant that makes released batches, and the declared temperature."""

from __future__ import annotations

import pytest

from ebr.analytics import services as analytics
from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from tests.integration.analytics.support import TEMPERATURE, Plant

PARAMETER = "SIMPLE.temperature"


def declare(services: Services, **overrides: object) -> None:
    arguments: dict[str, object] = {
        "actor": "quinn",
        "parameter_id": PARAMETER,
        "product_code": "FG-SIMPLE",
        "title": "Mixing temperature",
        "unit": "°C",
        "critical": True,
        "sources": [
            analytics.SourceSpec("SIMPLE", TEMPERATURE, "value"),
            analytics.SourceSpec("SIMPLE", "UP1.OP1.PH4", "value", recipe_version="2"),
        ],
        "reason": "CPV plan CPV-001",
    }
    arguments.update(overrides)
    with unit_of_work(services.session_factory) as session:
        analytics.declare_parameter(session, services.audit, services.clock, **arguments)  # type: ignore[arg-type]


@pytest.fixture
def plant(services: Services) -> Plant:
    made = Plant(services)
    declare(services)
    return made
