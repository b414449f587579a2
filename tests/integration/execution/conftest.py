"""Fixtures for execution tests: people who sign, a registered clean plant, released lots, recipes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.execution.service import Execution, build
from ebr.materials.models import Material
from ebr.materials.services import Credentials
from recipes.authoring import parse_document, parse_yaml
from recipes.model import Recipe

PASSWORD = "correct horse battery 1"
EXAMPLES = Path(__file__).resolve().parents[3] / "recipes" / "examples"

PEOPLE = {
    "olga": ("Olga Operator", ["operator"]),
    "otto": ("Otto Operator", ["operator"]),
    "sam": ("Sam Supervisor", ["supervisor"]),
    "sue": ("Sue Supervisor", ["supervisor"]),
    "quinn": ("Quinn QA", ["qa"]),
    "queenie": ("Queenie QA", ["qa"]),
}


def sig(user: str, meaning: str = "performed") -> Credentials:
    return Credentials(user_id=user, password=PASSWORD, meaning=meaning)


@dataclass
class Floor:
    """A shop floor ready to run batches."""

    services: Services
    execution: Execution

    def work(self, fn: Callable[..., Any], /, **kwargs: Any) -> Any:
        with unit_of_work(self.services.session_factory) as session:
            return fn(session, **kwargs)

    def batch(self, recipe: Recipe, *, size: str | None = None, order: str = "PO-1") -> str:
        amount = size or str(recipe.batch_size.nominal)

        def create(session: Any) -> str:
            batch = self.execution.create_from_recipe(
                session, actor="sam", master=recipe, version="1", size=amount, order=order
            )
            return batch.number

        number: str = self.work(create)
        self.work(self.execution.release_to_floor, actor="sam", ref=number)
        self.work(self.execution.start_batch, actor="olga", ref=number)
        return number

    def step(self, number: str, path: str) -> Any:
        with self.services.session_factory() as session:
            batch = self.execution.batch(session, number)
            return self.execution.ctx.step(session, batch, path)


def make_people(services: Services) -> None:
    with unit_of_work(services.session_factory) as session:
        for user_id, (name, roles) in PEOPLE.items():
            services.users.create(
                session,
                actor="admin",
                user_id=user_id,
                full_name=name,
                roles=roles,
                password=PASSWORD,
                must_change=False,
            )
            services.users.accept_accountability(session, user_id=user_id)


def make_plant(services: Services, tags: dict[str, str]) -> None:
    eq = services.equipment
    with unit_of_work(services.session_factory) as session:
        for tag, kind in tags.items():
            calibrated = kind in ("scale", "instrument")
            eq.register(
                session,
                actor="admin",
                tag=tag,
                kind=kind,
                name=tag,
                reason="installed",
                requires_calibration=calibrated,
                calibration_interval_days=180 if calibrated else None,
                clean_hold_hours=72,
            )
            eq.record_cleaning(session, actor="olga", unit=tag, method="SOP-CLN-001")
            if calibrated:
                eq.record_calibration(session, actor="sam", unit=tag, passed=True, certificate="CAL-1")


def make_lot(
    floor: Floor,
    material: str,
    lot: str,
    quantity: str,
    *,
    potency: str | None = None,
    release: bool = True,
    expires: dt.date | None = None,
    unit: str = "kg",
) -> None:
    mats = floor.execution.materials

    def receive(session: Any) -> None:
        if session.get(Material, material) is None:
            mats.create_material(session, actor="quinn", code=material, name=material, unit=unit)
        mats.receive_lot(
            session,
            actor="quinn",
            material=material,
            lot_number=lot,
            quantity=Decimal(quantity),
            expires_on=expires or dt.date(2030, 1, 1),
            potency=potency,
            containers={f"C-{lot}": Decimal(quantity)},
        )
        if release:
            mats.change_status(
                session, actor="quinn", lot_number=lot, status="released", reason="tested OK", signer=sig("quinn")
            )

    floor.work(receive)


@pytest.fixture
def floor(services: Services) -> Floor:
    make_people(services)
    make_plant(services, {"R-101": "unit", "SC-01": "scale", "F-101": "filter", "T-100": "tank", "FS-01": "unit"})
    return Floor(services, build(services))


SIMPLE: dict[str, Any] = {
    "name": "SIMPLE",
    "title": "A small manual recipe",
    "product": {"code": "FG-SIMPLE", "name": "Simple product"},
    "batch_size": {"nominal": 100, "min": 50, "max": 150, "unit": "kg"},
    "formula": {"parameters": [{"name": "factor", "value": "2", "unit": "pcs"}]},
    "unit_procedures": [
        {
            "id": "UP1",
            "name": "Mixing",
            "equipment": {"unit_class": "reactor", "unit": "R-101"},
            "operations": [
                {
                    "id": "OP1",
                    "name": "Prepare",
                    "phases": [
                        {
                            "id": "PH1",
                            "name": "Reactor ready",
                            "type": "equipment_check",
                            "equipment": "R-101",
                            "checks": ["clean", "available"],
                        },
                        {
                            "id": "PH2",
                            "name": "Line clearance",
                            "type": "instruction",
                            "text": "Clear the line.",
                            "signatures": ["performed", "verified"],
                        },
                        {
                            "id": "PH3",
                            "name": "Temperature",
                            "type": "data_entry",
                            "kind": "numeric",
                            "prompt": "Temperature",
                            "unit": "°C",
                            "low": 15,
                            "high": 30,
                        },
                    ],
                },
                {
                    "id": "OP2",
                    "name": "Check",
                    "phases": [
                        {"id": "PH1", "name": "Sample", "type": "sample", "tests": ["assay"]},
                        {
                            "id": "PH2",
                            "name": "Double",
                            "type": "calculation",
                            "expression": "UP1.OP1.PH3 * factor",
                            "unit": "°C",
                            "low": 0,
                            "high": 100,
                        },
                        {"id": "PH3", "name": "Done", "type": "sign_off", "meanings": ["performed", "verified"]},
                    ],
                },
            ],
        }
    ],
}


def recipe(data: dict[str, Any]) -> Recipe:
    return parse_document(data, source="test")


def example(name: str) -> Recipe:
    return parse_yaml((EXAMPLES / name).read_text(encoding="utf-8"), source=name)
