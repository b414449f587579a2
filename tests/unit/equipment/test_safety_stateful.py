"""Random interleavings of commands and plant faults against the runtime's safety core (fast model).

The machine and its invariants: ``tests/support/safety_machine.py``. ``EBR_STATEFUL_EXAMPLES``
raises the number of runs (default 100 × 40 steps, about 10 s; e.g. 2000 for a long run).

The machine must also *fail* when a rule it proves is switched off
(``tests/support/safety_mutations.py``): overdose detection, the safe-state guard, the
totalizer-discontinuity handling — each caught within the same default budget (the check
runs derandomized, so it is the same search on every machine; measured over 20 random seeds
the overdose needed 4–89 runs, median 9; the guard and the discontinuity fewer).
``EBR_SAFETY_MUTATION=overdose`` (or ``guard``, ``discontinuity``) runs this module's machine
with that rule off by hand: ``TestSafetyUnderRandomFaults`` then fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from equipment.commands import PhaseStatus
from tests.support.safety_machine import ModelFaultMachine
from tests.support.safety_mutations import mutated

EXAMPLES = int(os.environ.get("EBR_STATEFUL_EXAMPLES", "100"))
STEPS = 40


class ModelSafetyMachine(ModelFaultMachine):
    """The machine on the in-process plant model."""


ModelSafetyMachine.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.fixture(autouse=True)
def _hand_mutation() -> Iterator[None]:
    """``EBR_SAFETY_MUTATION=<name>``: every test of this module runs with that rule off."""
    with mutated(os.environ.get("EBR_SAFETY_MUTATION", "")):
        yield


@pytest.mark.requirement("URS-EQP-011", "URS-EQP-012")
class TestSafetyUnderRandomFaults(ModelSafetyMachine.TestCase):  # type: ignore[misc,valid-type]
    """The invariants of issue 15 hold after every step of every interleaving."""


@pytest.mark.requirement("URS-EQP-011", "URS-EQP-012")
@pytest.mark.parametrize(
    ("mutation", "caught_by"),
    [
        ("overdose", "without an overdose alarm"),
        ("guard", "still commanded on after a guard pass|no owner"),
        ("guard_write", "still commanded on after a guard pass"),
        ("discontinuity", "but the meter showed|without a totalizer discontinuity alarm|negative actual"),
    ],
)
def test_the_machine_fails_when_a_safety_rule_is_switched_off(mutation: str, caught_by: str) -> None:
    """Each rule the machine proves, switched off, is caught within the default example budget."""
    budget = settings(
        max_examples=EXAMPLES,
        stateful_step_count=STEPS,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],  # the first failure is the proof; no shrinking
        suppress_health_check=list(HealthCheck),
    )
    with mutated(mutation), pytest.raises(AssertionError, match=caught_by):
        run_state_machine_as_test(ModelSafetyMachine, settings=budget)


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
