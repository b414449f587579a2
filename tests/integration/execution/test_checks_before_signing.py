"""Checks that cannot pass are shown on the step before the signing dialog opens."""

from __future__ import annotations

import html

import pytest
from flask import Flask

from ebr.execution import readiness
from tests.integration.execution.conftest import SIMPLE, Floor, recipe, sig
from tests.integration.execution.test_holds_and_deviations import HOLD
from tests.integration.web.test_verification_queue import client_for


@pytest.mark.requirement("URS-BAT-003")
def test_a_timed_hold_that_has_not_run_its_minimum_says_so_above_the_sign_button(app: Flask, floor: Floor) -> None:
    number = floor.batch(recipe(HOLD))
    floor.work(floor.execution.start_step, actor="olga", ref=number, path="UP1.OP1.PH1")
    page = html.unescape(client_for(app, "olga").get(f"/batches/{number}").get_data(as_text=True))
    warning = page.index("Completing this step would be refused now")
    assert "the hold has not reached its minimum of 30 min" in page
    assert warning < page.index("Complete and sign step UP1.OP1.PH1")


def test_an_equipment_check_on_a_unit_in_use_by_another_batch_is_flagged(floor: Floor) -> None:
    ex = floor.execution
    first, second = floor.batch(recipe(SIMPLE), order="PO-A"), floor.batch(recipe(SIMPLE), order="PO-B")
    for number in (first, second):
        floor.work(ex.start_step, actor="olga", ref=number, path="UP1.OP1.PH1")
    floor.work(ex.complete_step, actor="olga", ref=first, path="UP1.OP1.PH1", signatures=[sig("olga")])
    with floor.services.session_factory() as session:
        batch = ex.batch(session, second)
        step = ex.ctx.step(session, batch, "UP1.OP1.PH1")
        phase = ex.ctx.plan(session, batch).phase(step.path)
        found = readiness.completion_blockers(session, ex.ctx, batch, step, phase)
    assert len(found) == 1
    assert "R-101" in found[0]
    assert first in found[0]
