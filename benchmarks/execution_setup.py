"""Shared set-up of the execution benchmarks: a migrated database, people, and a long batch.

Not a benchmark itself (no ``main``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from ebr import schema
from ebr.bootstrap import Services, build_services
from ebr.core.config import load_settings
from ebr.core.db import unit_of_work
from ebr.execution.service import Execution, build
from recipes.model import BatchSize, EquipmentRequirement, Operation, Phase, PhaseType, Product, Recipe, UnitProcedure
from recipes.phases import Instruction

PASSWORD = "benchmark password 1"


def services_for(url: str, data_dir: Path) -> Services:
    """Services on a freshly migrated database at ``url``."""
    settings = load_settings({"EBR_DATA_DIR": str(data_dir)}, database_url=url, secret_key="bench", testing=True)
    built = build_services(settings)
    schema.upgrade(built.engine)
    with unit_of_work(built.session_factory) as session:
        built.users.create(
            session, actor="admin", user_id="olga", full_name="Olga Operator", roles=["operator"],
            password=PASSWORD, must_change=False,
        )  # fmt: skip
        built.users.accept_accountability(session, user_id="olga")
    return built


def long_recipe(operations: int, phases: int, *, signed: bool) -> Recipe:
    """One unit procedure of ``operations`` × ``phases`` instructions, in sequence."""
    meanings = ("performed",) if signed else ()
    ops = tuple(
        Operation(
            id=f"OP{o}",
            name=f"Operation {o}",
            phases=tuple(
                Phase(f"PH{p}", f"Step {o}.{p}", PhaseType.INSTRUCTION, Instruction(f"Do {o}.{p}"), meanings)
                for p in range(1, phases + 1)
            ),
        )
        for o in range(1, operations + 1)
    )
    return Recipe(
        name="BENCH",
        title="Benchmark recipe",
        product=Product("FG-BENCH", "Benchmark product"),
        batch_size=BatchSize(Decimal(100), Decimal(1), Decimal(1000), "kg"),
        unit_procedures=(UnitProcedure("UP1", "Work", EquipmentRequirement("bench"), ops),),
    )


def started_batch(services: Services, recipe: Recipe) -> tuple[Execution, str]:
    """A batch of ``recipe``, released and started (its first step ready)."""
    execution = build(services)
    with unit_of_work(services.session_factory) as session:
        number = execution.create_from_recipe(
            session, actor="sam", master=recipe, version="1", size="100", order="PO-BENCH"
        ).number
    with unit_of_work(services.session_factory) as session:
        execution.release_to_floor(session, actor="sam", ref=number)
    with unit_of_work(services.session_factory) as session:
        execution.start_batch(session, actor="olga", ref=number)
    return execution, number


def timed(fn: Callable[[], Any]) -> float:
    """Seconds ``fn`` takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start
