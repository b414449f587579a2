"""A realistic installation for reconciliation tests: people, plant, released lots, approved recipes, batches.

Everything is written through the application's services, so the trail holds an image
of every GMP row; tests then change the database behind the application's back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.demo import PASSWORD, approve_examples, create_people, receive_materials, register_plant
from ebr.execution.service import Execution, build
from ebr.materials.services import Credentials
from tests.integration.execution.conftest import SIMPLE, recipe

PLANT = Path(__file__).resolve().parents[3] / "equipment" / "examples"


@dataclass
class Shop:
    services: Services
    execution: Execution
    batch: str


def make_shop(services: Services) -> Shop:
    """People, the example plant, released lots, the example recipes approved, one manual batch under way."""
    execution = build(services)
    create_people(services)
    register_plant(services, next(iter(sorted(PLANT.glob("*.yaml")))))
    receive_materials(execution)(services)
    approve_examples(services)
    with unit_of_work(services.session_factory) as session:
        made = execution.create_from_recipe(
            session, actor="sam", master=recipe(SIMPLE), version="1", size="100", order="PO-1"
        )
        number = made.number
    with unit_of_work(services.session_factory) as session:
        execution.release_to_floor(session, actor="sam", ref=number)
    with unit_of_work(services.session_factory) as session:
        execution.start_batch(session, actor="olga", ref=number)
    for path, signers in (("UP1.OP1.PH1", ["olga"]), ("UP1.OP1.PH2", ["olga", "sam"])):
        with unit_of_work(services.session_factory) as session:
            execution.start_step(session, actor="olga", ref=number, path=path)
        signatures = [
            Credentials(user_id=u, password=PASSWORD, meaning=m) for u, m in zip(signers, MEANINGS, strict=False)
        ]
        with unit_of_work(services.session_factory) as session:
            execution.complete_step(session, actor="olga", ref=number, path=path, signatures=signatures)
    return Shop(services, execution, number)


MEANINGS = ("performed", "verified")
