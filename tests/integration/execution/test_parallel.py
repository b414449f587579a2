"""Parallel branches on different units run at the same time; the join waits for both."""

from __future__ import annotations

from typing import Any

import pytest

from ebr.core.errors import StateError
from tests.integration.execution.conftest import Floor, recipe, sig


def _up(up_id: str, unit: str, phase: str) -> dict[str, Any]:
    return {
        "id": up_id,
        "name": f"Work on {unit}",
        "equipment": {"unit_class": "unit", "unit": unit},
        "operations": [
            {"id": "OP1", "name": "Work", "phases": [
                {"id": "PH1", "name": phase, "type": "instruction", "text": phase},
            ]},
        ],
    }  # fmt: skip


PARALLEL: dict[str, Any] = {
    "name": "PAR",
    "title": "Two units at once",
    "product": {"code": "FG-P", "name": "Parallel"},
    "batch_size": {"nominal": 10, "min": 5, "max": 20, "unit": "kg"},
    "unit_procedures": [
        _up("UP1", "R-101", "Prepare"),
        _up("UP2", "R-101", "Mix in the reactor"),
        _up("UP3", "F-101", "Rinse the filter"),
        _up("UP4", "R-101", "Transfer"),
    ],
    "transitions": [
        {"from": ["UP1"], "to": ["UP2", "UP3"]},
        {"from": ["UP2", "UP3"], "to": ["UP4"]},
    ],
}


def _do(floor: Floor, number: str, path: str, *, start: bool = True, complete: bool = True) -> None:
    if start:
        floor.work(floor.execution.start_step, actor="olga", ref=number, path=path)
    if complete:
        floor.work(floor.execution.complete_step, actor="olga", ref=number, path=path, signatures=[sig("olga")])


@pytest.mark.requirement("URS-BAT-002")
def test_parallel_branches_on_different_units_run_at_the_same_time_and_the_join_waits_for_both(
    floor: Floor,
) -> None:
    number = floor.batch(recipe(PARALLEL))
    _do(floor, number, "UP1.OP1.PH1")
    _do(floor, number, "UP2.OP1.PH1", complete=False)
    _do(floor, number, "UP3.OP1.PH1", complete=False)
    assert {floor.step(number, p).state for p in ("UP2.OP1.PH1", "UP3.OP1.PH1")} == {"Running"}
    _do(floor, number, "UP2.OP1.PH1", start=False)
    with pytest.raises(StateError, match="out of sequence: it waits for UP3 to complete"):
        _do(floor, number, "UP4.OP1.PH1")
    _do(floor, number, "UP3.OP1.PH1", start=False)
    _do(floor, number, "UP4.OP1.PH1")
    with floor.services.session_factory() as session:
        assert floor.execution.batch(session, number).status == "complete"
