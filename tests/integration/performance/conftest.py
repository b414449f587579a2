"""Fixtures for performance: a floor in area Formulation whose clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ebr.bootstrap import Services, build_services
from ebr.core.clock import FixedClock
from ebr.core.config import Settings
from tests.integration.performance.support import START, Line


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def services(settings: Settings, clock: FixedClock) -> Iterator[Services]:
    built = build_services(settings, clock=clock)
    yield built
    built.close()


@pytest.fixture
def line(services: Services, clock: FixedClock) -> Line:
    return Line(services, clock)
