"""A completed example batch for the batch record tests: values, a weighing, a correction, a deviation.

The scale is the one stand-in: a fixed, stable reading at the very edge (the real Modbus
scale runs in the e2e tests); everything else is the real engine on the real databases.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from ebr.bootstrap import Services
from ebr.execution.context import ScaleReading
from ebr.execution.service import build
from ebr.trail import services as audit_service
from tests.integration.execution.conftest import SIMPLE, Floor, make_lot, make_people, make_plant, recipe, sig

WEIGH_PHASE: dict[str, Any] = {
    "id": "PH4",
    "name": "Weigh excipient",
    "type": "weigh_dispense",
    "material": "RM-X",
    "target": "2.5",
    "unit": "kg",
    "tolerance": "1",
    "tolerance_unit": "%",
    "scale": "SC-01",
    "signatures": ["performed", "verified"],
}


class FixedScale:
    """A scale that shows ``weight`` and is always stable."""

    def __init__(self) -> None:
        self.weight = Decimal("0")

    def read(self, session: Any, scale: str) -> ScaleReading:
        return ScaleReading(self.weight, "kg", True, dt.datetime.now(dt.UTC))


@dataclass
class Example:
    """The completed batch and what was entered on it."""

    floor: Floor
    number: str
    entered: list[str]


def example_recipe() -> dict[str, Any]:
    data = copy.deepcopy(SIMPLE)
    data["bill_of_materials"] = {
        "materials": [{"code": "RM-X", "name": "Excipient X", "quantity": "2.5", "unit": "kg"}]
    }
    data["unit_procedures"][0]["operations"][0]["phases"].append(WEIGH_PHASE)
    return data


def _done(floor: Floor, number: str, path: str, values: Any = None, signers: tuple[str, ...] = ("olga",)) -> None:
    ex = floor.execution
    floor.work(ex.start_step, actor="olga", ref=number, path=path)
    meanings = ("performed", "verified")
    signatures = [sig(user, meaning) for user, meaning in zip(signers, meanings, strict=False)]
    floor.work(ex.complete_step, actor="olga", ref=number, path=path, values=values, signatures=signatures)


def run_example(floor: Floor) -> Example:
    """Run the example batch to completion: every kind of record the PDF must show."""
    ex = floor.execution
    scale = FixedScale()
    ex.ctx.scale = scale
    make_lot(floor, "RM-X", "L-X-001", "10")
    number = floor.batch(recipe(example_recipe()))
    _done(floor, number, "UP1.OP1.PH1")
    _done(floor, number, "UP1.OP1.PH2", signers=("olga", "sam"))
    floor.work(ex.start_step, actor="olga", ref=number, path="UP1.OP1.PH3")
    recorded = floor.work(ex.record, actor="olga", ref=number, path="UP1.OP1.PH3", values={"value": "21.5"})
    floor.work(
        ex.correct_entry,
        actor="olga",
        entry_id=recorded.entries[0].id,
        value="23.75",
        reason="typo: the display showed 23.75",
        signature=sig("olga"),
    )
    floor.work(ex.complete_step, actor="olga", ref=number, path="UP1.OP1.PH3", signatures=[sig("olga")])
    floor.work(ex.start_step, actor="olga", ref=number, path="UP1.OP1.PH4")
    for values, weight in (({"container": "C-L-X-001"}, "0"), ({"tare": True}, "0"), ({"weigh": True}, "2.503")):
        scale.weight = Decimal(weight)
        floor.work(ex.record, actor="olga", ref=number, path="UP1.OP1.PH4", values=values)
    floor.work(
        ex.complete_step,
        actor="olga",
        ref=number,
        path="UP1.OP1.PH4",
        signatures=[sig("olga"), sig("sam", "verified")],
    )
    dev = floor.work(
        ex.open_deviation, actor="olga", ref=number, path="UP1.OP2.PH1", severity="minor", description="sample spilt"
    )
    floor.work(
        ex.handle_deviation,
        actor="sam",
        ref=dev.number,
        comment="second sample drawn from the same vessel",
        signature=sig("sam", "verified"),
    )
    _done(floor, number, "UP1.OP2.PH1", values={"sample_id": "S-7731"})
    _done(floor, number, "UP1.OP2.PH2")
    _done(floor, number, "UP1.OP2.PH3", signers=("olga", "sue"))
    entered = ["21.5", "23.75", "C-L-X-001", "L-X-001", "2.503", "S-7731", "47.50", "sample spilt"]
    return Example(floor, number, entered)


@pytest.fixture
def example(services: Services) -> Example:
    audit_service.ensure_system_key(services)
    make_people(services)
    make_plant(services, {"R-101": "unit", "SC-01": "scale", "F-101": "filter", "T-100": "tank", "FS-01": "unit"})
    return run_example(Floor(services, build(services)))
