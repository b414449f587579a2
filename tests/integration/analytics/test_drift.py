"""End to end: 30 batches with a drifting temperature, the trend job after every release.

The batches are made, executed, reviewed and released through the services on
PostgreSQL (the SIMPLE recipe, ~2 s a batch), not the liquid example against the
simulator: 30 liquid batches with dosing and timed holds would take far longer than
the suite allows. After each release the scheduler's own job function
(``analytics_trends``) runs, as the scheduler would call it.

The series, worked by hand against the Nelson rules: batches 1–10 alternate around
20.0 °C (19.8 20.2 19.9 20.1 20.0 19.8 20.2 19.9 20.1 20.0: x̄ = 20.0, MR̄ = 2.2/9,
σ̂ = MR̄/1.128 = 0.2167) and are the baseline; from batch 11 the temperature rises by
0.05 °C a batch. Batch 10 → 11 is the first rise, so batch 15 is the sixth point of
a steady rise (rule 3); nothing is flagged before it. Later: batch 18 is the fourth
of five beyond 1σ (rule 6), 19 the ninth above the center line (rule 2), 20 the
second of two beyond 2σ (rule 5), 22 the eighth in a row beyond 1σ (rule 8), 24 beyond
3σ (20.70 > 20.650, rule 1).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from ebr.analytics import services as analytics
from ebr.analytics import trends
from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.jobs.definitions import evaluate_trends
from ebr.jobs.runner import JobContext
from tests.integration.analytics.conftest import PARAMETER
from tests.integration.analytics.support import Plant

BASELINE = ["19.8", "20.2", "19.9", "20.1", "20.0", "19.8", "20.2", "19.9", "20.1", "20.0"]
DRIFT = [str(Decimal("20.0") + Decimal("0.05") * k) for k in range(1, 21)]


@pytest.mark.slow
@pytest.mark.requirement("URS-CPV-002")
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_drifting_temperature_is_flagged_at_the_expected_batch_and_not_before(
    services: Services, plant: Plant
) -> None:
    context = JobContext(services=services, slot=dt.datetime.now(dt.UTC))
    numbers: list[str] = []
    flagged: dict[int, list[int]] = {}
    for index, value in enumerate(BASELINE + DRIFT, start=1):
        numbers.append(plant.released_batch(value))
        if index == len(BASELINE):
            with unit_of_work(services.session_factory) as session:
                analytics.set_baseline(
                    session, services.audit, actor="quinn", parameter_id=PARAMETER, batches=numbers,
                    reason="validation batches 1-10",
                )  # fmt: skip
        opened = evaluate_trends(context)
        assert opened is not None
        if opened["notifications"]:
            with services.session_factory() as session:
                rows = [trends.get_notification(session, n) for n in opened["notifications"]]
            assert [r.batch_number for r in rows] == [numbers[-1]]
            flagged[index] = sorted(rule["rule"] for r in rows for rule in r.rules)
    assert min(flagged) == 15
    assert flagged[15] == [3]
    first = {}
    for index, rules in sorted(flagged.items()):
        for rule in rules:
            first.setdefault(rule, index)
    assert first == {3: 15, 6: 18, 2: 19, 5: 20, 8: 22, 1: 24}
