"""The weighing screen: which containers to scan, then the weight in large digits with its window and stability."""

from __future__ import annotations

import html
from decimal import Decimal

import pytest
from flask import Flask

from ebr.core.db import unit_of_work
from equipment.models import Reading
from tests.integration.execution.conftest import Floor, make_lot
from tests.integration.execution.test_live_dosing import read_stream
from tests.integration.execution.test_materials import _scan, _weigh_step
from tests.integration.web.test_verification_queue import client_for


@pytest.mark.requirement("URS-BAT-004")
def test_the_operator_is_told_which_containers_to_scan_and_sees_the_weight_against_its_window(
    app: Flask, floor: Floor
) -> None:
    make_lot(floor, "RM-X", "L-X1", "40")
    make_lot(floor, "RM-X", "L-XQ", "40", release=False)  # quarantined: not offered
    number = _weigh_step(floor)
    olga = client_for(app, "olga")
    page = html.unescape(olga.get(f"/batches/{number}").get_data(as_text=True))
    assert "Scan one of these containers of RM-X:" in page
    assert "<strong>C-L-X1</strong> — lot L-X1, 40 kg, expires 2030-01-01" in page
    assert "C-L-XQ" not in page
    _scan(floor, number, "C-L-X1")
    now = floor.services.clock.now()
    with unit_of_work(floor.services.session_factory) as session:
        for tag, value, number_value, unit in (
            ("SC-01.weight", "9.95", Decimal("9.95"), "kg"),
            ("SC-01.stable", "true", None, ""),
        ):
            session.merge(
                Reading(
                    tag=tag,
                    value=value,
                    number=number_value,
                    unit=unit,
                    quality="Good",
                    source_ts=now,
                    server_ts=now,
                    updated_at=now,
                )
            )
    with floor.services.session_factory() as session:
        phase_ref = f"{floor.execution.batch(session, number).id}:UP1.OP1.PH1"
    received = read_stream(olga, f"/live/units/SC-01?weigh={phase_ref}", "event: weighing")
    assert "Gross (not tared yet) <strong>9.95 kg</strong>" in received
    assert ">stable<" in received
    assert "Target 10.000 kg, window 9.900–10.100 kg</p>" in received  # no verdict on a gross weight
    assert 'role="img" aria-label="Gross 9.95 kg; window' in received
