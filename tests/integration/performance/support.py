"""A production line for performance tests: people, area Formulation with R-101, batches of
SIMPLE run step by step while the test moves the clock (so every duration is known)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ebr import release
from ebr.bootstrap import Services
from ebr.core.clock import FixedClock
from ebr.core.db import unit_of_work
from ebr.execution.service import Execution, build
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
