"""A production line for performance tests: people, area Formulation with R-101, batches of
SIMPLE run step by step while the test moves the clock (so every duration is known)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ebr.bootstrap import Services
from ebr.core.clock import FixedClock
from ebr.core.db import unit_of_work
from ebr.execution.service import Execution, build
from ebr.review import services as release
from tests.integration.execution.conftest import SIMPLE, make_people, recipe, sig

START = dt.datetime(2026, 3, 2, 6, 0, tzinfo=dt.UTC)  # a Monday
AREA = "Formulation"
UNIT = "R-101"
STEPS: list[tuple[str, dict[str, str] | None, list[tuple[str, str]]]] = [
    ("UP1.OP1.PH1", None, [("olga", "performed")]),
    ("UP1.OP1.PH2", None, [("olga", "performed"), ("sam", "verified")]),
    ("UP1.OP1.PH3", {"value": "20.0"}, [("olga", "performed")]),
    ("UP1.OP2.PH1", {"sample_id": "S-1"}, [("olga", "performed")]),
    ("UP1.OP2.PH2", None, [("olga", "performed")]),
    ("UP1.OP2.PH3", None, [("olga", "performed"), ("sue", "verified")]),
]


class Line:
    """People and a clean R-101 in area Formulation; batches of SIMPLE on it."""

    def __init__(self, services: Services, clock: FixedClock) -> None:
        self.services, self.clock = services, clock
        make_people(services)
        with unit_of_work(services.session_factory) as session:
            services.equipment.ensure_area(session, actor="admin", name=AREA)
            services.equipment.register(
                session, actor="admin", tag=UNIT, kind="unit", name=UNIT, area=AREA, reason="installed",
                clean_hold_hours=72000,
            )  # fmt: skip
            services.equipment.record_cleaning(session, actor="olga", unit=UNIT, method="SOP-CLN-001")
        self.ex: Execution = build(services)
        self.count = 0

    def work(self, fn: Any, /, **kwargs: Any) -> Any:
        with unit_of_work(self.services.session_factory) as session:
            return fn(session, **kwargs)

    def start(self) -> str:
        """Create, release to the floor and start a batch of SIMPLE; its number."""
        self.count += 1
        master = recipe(SIMPLE)
        number: str = self.work(
            lambda session: (
                self.ex.create_from_recipe(
                    session, actor="sam", master=master, version="1", size="100", order=f"PO-{self.count}"
                ).number
            )
        )
        self.work(self.ex.release_to_floor, actor="sam", ref=number)
        self.work(self.ex.start_batch, actor="olga", ref=number)
        return number

    def step(self, number: str, index: int, *, minutes: float) -> None:
        """Run step ``index`` of SIMPLE for ``minutes``."""
        path, values, signers = STEPS[index]
        self.work(self.ex.start_step, actor="olga", ref=number, path=path)
        self.clock.advance(minutes=minutes)
        signatures = [sig(user, meaning) for user, meaning in signers]
        self.work(self.ex.complete_step, actor="olga", ref=number, path=path, values=values, signatures=signatures)

    def release(self, number: str, decision: str = "released") -> None:
        for user, meaning in (("quinn", "reviewed"), ("queenie", decision)):
            self.work(
                lambda session, user=user, meaning=meaning: release.decide(
                    session, self.ex.ctx, actor=user, ref=number, decision=meaning, signature=sig(user, meaning)
                )
            )


PERFORMANCE_FILE = """\
stop_threshold_minutes: 5
ideal_seconds: {equipment_check: 1200, instruction: 600, data_entry: 600, sample: 300, calculation: 120, sign_off: 300}
areas:
  Formulation:
    reasons:
      Mechanical: {Agitator: null, Pump seal: null}
      Material: {Late delivery: null}
"""
MINUTES = (30, 15, 10, 5, 2, 8)  # each step's running time


def run_day(line: Line, *, down: Any) -> str:
    """The scenario of the KPI tests (minutes after START): no order 0–10, step 1 runs 10–40,
    ``down(line)`` stops the unit 40–60, steps 2–6 run 60–100, the batch completes at 100 and
    is released at 110. Availability 70/90, performance 52/70, quality 1, one failure."""
    line.services.settings.data_dir.mkdir(parents=True, exist_ok=True)
    (line.services.settings.data_dir / "performance.yaml").write_text(PERFORMANCE_FILE, encoding="utf-8")
    number = line.start()
    line.clock.advance(minutes=10)
    line.step(number, 0, minutes=MINUTES[0])
    down(line)
    line.clock.advance(minutes=20)
    for index in range(1, 6):
        line.step(number, index, minutes=MINUTES[index])
    line.clock.advance(minutes=10)
    line.release(number)
    return number
