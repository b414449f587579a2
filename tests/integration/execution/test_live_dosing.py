"""The live dosing picture: the amount follows the totalizer while the runtime doses, with level and a tolerance bar."""

from __future__ import annotations

import html
from decimal import Decimal

import pytest
from flask import Flask

from ebr.core.db import unit_of_work
from equipment.models import PhaseState, Reading, TrendPoint
from tests.e2e.test_batch_crash import RECIPE as DOSING
from tests.integration.execution.conftest import Floor, recipe, sig
from tests.integration.web.test_verification_queue import client_for


def read_stream(client: object, url: str, until: str) -> str:
    response = client.get(url, buffered=False)  # type: ignore[attr-defined]
    received = ""
    try:
        for chunk in response.response:
            received += chunk.decode() if isinstance(chunk, bytes) else chunk
            if until in received:
                break
    finally:
        response.close()
    return html.unescape(received)


@pytest.mark.requirement("URS-EQP-002")
def test_the_dosed_amount_is_live_between_the_runtimes_reports(app: Flask, floor: Floor) -> None:
    ex, services = floor.execution, floor.services
    number = floor.batch(recipe(DOSING), size="100")
    floor.work(ex.start_step, actor="olga", ref=number, path="UP1.OP1.PH1")
    floor.work(ex.complete_step, actor="olga", ref=number, path="UP1.OP1.PH1", signatures=[sig("olga")])
    floor.work(ex.start_step, actor="olga", ref=number, path="UP1.OP1.PH2")
    with services.session_factory() as session:
        phase_ref = f"{ex.batch(session, number).id}:UP1.OP1.PH2"
    now = services.clock.now()
    with unit_of_work(services.session_factory) as session:
        state = session.get(PhaseState, phase_ref) or PhaseState(phase_ref=phase_ref, kind="dosing", unit="R-101")
        state.state, state.target, state.actual, state.quantity_unit = "running", Decimal(150), Decimal(0), "L"
        state.updated_at, state.started_at, state.reason = now, now, "dosing started"
        session.merge(state)
        session.add(
            TrendPoint(
                tag="R-101.totalizer",
                at=now,
                minimum=Decimal("1000.0"),
                mean=Decimal("1010.0"),
                maximum=Decimal("1020.0"),
                last=Decimal("1020.0"),
                samples=5,
                phase_ref=phase_ref,
            )
        )
        for tag, value in (("R-101.totalizer", "1075.5"), ("R-101.level", "1075.5")):
            session.merge(
                Reading(
                    tag=tag,
                    value=value,
                    number=Decimal(value),
                    unit="L",
                    quality="Good",
                    source_ts=now,
                    server_ts=now,
                    updated_at=now,
                )
            )
    received = read_stream(client_for(app, "olga"), f"/live/units/R-101?phase={phase_ref}", "event: phase")
    assert "Dosed 75.5 L" in received  # not the 0 of the last report
    assert "of 150 L (allowed 148–152 L)" in received
    assert "Level in the destination: <strong>1075.5 L</strong>" in received
    assert 'aria-label="Dosed 75.5 of 150 L; tolerance band 148 to 152 L"' in received
