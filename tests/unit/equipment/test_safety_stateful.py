"""Random interleavings of commands and plant faults against the runtime's safety core (fast model).

The machine and its invariants: ``tests/support/safety_machine.py``. ``EBR_STATEFUL_EXAMPLES``
raises the number of runs (default 60 × 30 steps, a few seconds; e.g. 2000 for a long run).
"""

from __future__ import annotations

import os
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, settings

from equipment.commands import PhaseStatus
from tests.support.safety_machine import SafetyMachine

EXAMPLES = int(os.environ.get("EBR_STATEFUL_EXAMPLES", "60"))


class ModelSafetyMachine(SafetyMachine):
    """The machine on the in-process plant model."""


ModelSafetyMachine.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.mark.requirement("URS-EQP-011", "URS-EQP-012")
class TestSafetyUnderRandomFaults(ModelSafetyMachine.TestCase):  # type: ignore[misc,valid-type]
    """The four invariants of issue 15 hold after every step of every interleaving."""


def test_the_model_plant_really_doses_and_restarts_reset_the_totalizer() -> None:
    """The model is a plant, not a stub: a dosing completes and a device restart zeroes the meter."""
    machine = ModelSafetyMachine()
    try:
        machine.connect()
        machine.start(amount=10, tolerance="1")
        for _ in range(100):
            machine.time_passes(5)
            if not machine.runtime.phases:
                break
        done = [r for r in machine.recorder.reports if r.state is PhaseStatus.COMPLETE]
        assert done, [r.reason for r in machine.recorder.reports]
        assert done[-1].actual is not None
        assert abs(done[-1].actual - Decimal(10)) <= Decimal(1)
        assert machine.plant.total == pytest.approx(float(done[-1].actual), abs=0.01)
        machine.device_restart_with_totalizer_reset()
        assert machine.plant.total == 0.0
    finally:
        machine.teardown()
