"""Creating batches from approved recipes and moving them through their lifecycle.

created → ready (released to the floor) → in_execution → complete → reviewed →
released / rejected (the last two by QA in the review package). The control recipe
is a frozen, scaled copy of the master recipe version, hashed at creation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any, cast

from sqlalchemy import Executable, Table, bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from audit.chain import Entity
from ebr.core.canonical import content_hash, jsonable
from ebr.core.db import insert_as_flushed, insert_statement
from ebr.core.errors import StateError, ValidationError
from ebr.core.ids import new_id
from ebr.execution.context import Context, check_version
from ebr.execution.models import Batch, BatchNumber, BatchStep
from ebr.execution.plan import build_plan, parent_of
from ebr.execution.rules import BatchStatus, parse_decimal
from recipes.model import Phase, Recipe
from recipes.scaling import scale
from recipes.states import State


def _numbers(session: Session, ctx: Context, count: int) -> list[str]:
    """The day's next ``count`` batch numbers, counted up in ``batch_number`` in the caller's transaction.

    One statement (an upsert adding ``count`` and returning the new last); its row lock is
    held to commit, so a concurrent creator waits and then counts on (no duplicates), and
    a rollback gives the numbers back (no gaps). Every batch creation also writes audit
    events; on PostgreSQL the chain's lock is taken when they are linked, at commit
    (audit.trail), so creators take the counter's lock first and the chain's last and
    cannot wait on each other. (SQLite: the transaction holds the database's write lock already.)
    """
    day = ctx.clock.now().strftime("%Y%m%d")
    connection = session.connection()
    counting = _counting(connection.dialect.name)
    last: int = connection.execute(counting, {"day": day, "count": count}).scalar_one()
    return [f"B{day}-{n:04d}" for n in range(last - count + 1, last + 1)]


@cache
def _counting(dialect: str) -> Executable:
    """The counter's upsert (built once: building it costs more than running it)."""
    table = cast(Table, BatchNumber.__table__)
    upsert = pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)
    counted = upsert.values(day=bindparam("day"), last=bindparam("count")).on_conflict_do_update(
        index_elements=[table.c.day], set_={"last": table.c.last + upsert.excluded.last}
    )
    return counted.returning(table.c.last)


def create_batch(
    session: Session, ctx: Context, *, actor: str, recipe: str, version: str | None, size: Decimal | str, order: str
) -> Batch:
    """Create a batch of the approved, effective ``recipe`` (at ``version``, or the effective one)."""
    if ctx.recipes is None:
        raise StateError("no recipe service is configured; recipes cannot be looked up")
    version_row, master = ctx.recipes.get_effective(session, recipe, version)
    label = str(getattr(version_row, "version", version or "?"))
    return create_from_recipe(session, ctx, actor=actor, master=master, version=label, size=size, order=order)


def create_from_recipe(
    session: Session, ctx: Context, *, actor: str, master: Recipe, version: str, size: Decimal | str, order: str
) -> Batch:
    """Create a batch from an already approved master recipe object (scaled to ``size``)."""
    [batch] = create_from_recipes(session, ctx, actor=actor, orders=[BatchOrder(master, version, size, order)])
    return batch


@dataclass(frozen=True)
class BatchOrder:
    """One batch to create: ``master`` (approved, at ``version``) scaled to ``size`` for production ``order``."""

    master: Recipe
    version: str
    size: Decimal | str
    order: str


def create_from_recipes(session: Session, ctx: Context, *, actor: str, orders: Sequence[BatchOrder]) -> list[Batch]:
    """Create one batch per entry of ``orders``, as :func:`create_from_recipe` would one after the other.

    The numbers follow ``orders``; the batches, their steps and the counter take one
    statement each, whatever their count (an ERP run plans fifty at once), and each batch
    has its ``batch.created`` event. Raises ValidationError before writing anything.
    """
    controls: dict[tuple[int, str, Decimal], tuple[Recipe, dict[str, Any], str]] = {}
    batches: list[tuple[Batch, Recipe]] = []
    for entry in orders:
        amount = parse_decimal("batch size", entry.size)
        if not entry.order.strip():
            raise ValidationError("a production order number is required (--order)")
        key = (id(entry.master), entry.version, amount)  # the masters live as long as this call
        if key not in controls:
            control = scale(entry.master, amount)
            document = jsonable(control.to_dict())
            controls[key] = (control, document, content_hash(document))
        control, document, digest = controls[key]
        batches.append((_new(ctx, actor, entry, amount, document, digest), control))
    if not batches:
        return []
    for (batch, _), number in zip(batches, _numbers(session, ctx, len(batches)), strict=True):
        batch.number = number
    # The batch rows before their steps (their foreign key); every column is set (_new).
    insert_as_flushed(session, [batch for batch, _ in batches])
    counts = _add_steps(session, batches)
    for (batch, _), count in zip(batches, counts, strict=True):
        after = {
            "number": batch.number,
            "recipe": batch.recipe_name,
            "recipe_version": batch.recipe_version,
            "size": batch.size,
            "unit": batch.size_unit,
            "order": batch.production_order,
            "control_recipe_hash": batch.control_recipe_hash,
            "steps": count,
        }
        ctx.record(session, actor=actor, action="batch.created", entity=Entity("batch", batch.number), after=after)
    return [batch for batch, _ in batches]


def _new(ctx: Context, actor: str, entry: BatchOrder, amount: Decimal, document: dict[str, Any], digest: str) -> Batch:
    return Batch(
        id=new_id(),
        number="",
        production_order=entry.order.strip(),
        recipe_name=entry.master.name,
        recipe_version=entry.version,
        product_code=entry.master.product.code,
        size=amount,
        size_unit=entry.master.batch_size.unit,
        control_recipe=document,
        control_recipe_hash=digest,
        status=BatchStatus.CREATED.value,
        state=State.IDLE.value,
        created_at=ctx.clock.now(),
        created_by=actor,
        output_lot_id=None,
        started_at=None,
        ended_at=None,
        version=1,
    )


def _add_steps(session: Session, batches: list[tuple[Batch, Recipe]]) -> list[int]:
    plans: dict[int, Any] = {}
    rows: list[dict[str, Any]] = []
    counts = []
    for batch, control in batches:
        if id(control) not in plans:  # one plan per distinct control recipe of the call
            plans[id(control)] = build_plan(control)
        plan = plans[id(control)]
        before = len(rows)
        for position, (path, node) in enumerate(plan.nodes.items()):
            if not path:
                continue
            element = node.element
            rows.append(
                {
                    "id": new_id(),
                    "batch_id": batch.id,
                    "path": path,
                    "parent": parent_of(path),
                    "level": node.level,
                    "position": position,
                    "name": element.name if element is not None else path,
                    "phase_type": element.type.value if isinstance(element, Phase) else None,
                    "unit": node.unit,
                    "state": State.IDLE.value,
                    "ready": False,
                    "data": {},
                    "version": 1,
                }
            )
        counts.append(len(rows) - before)
    # A Core statement on the table, built once, executed for all rows (psycopg's executemany:
    # one short statement, its rows pipelined — half the CPU of one multi-row INSERT … RETURNING
    # of 150 rows, whose long text psycopg parses every time; the ORM's bulk path costs more
    # again), through the session so that the rows' images are written (ebr.ops.images notes
    # the keys).
    if rows:
        session.execute(insert_statement(cast(Table, BatchStep.__table__)), rows)
    return counts


def release_to_floor(session: Session, ctx: Context, *, actor: str, ref: str, version: int | None = None) -> Batch:
    """created → ready: the batch may now be started on the shop floor."""
    batch = ctx.batch(session, ref, lock=True)
    check_version(batch, version, f"batch {batch.number}")
    if batch.status != BatchStatus.CREATED.value:
        raise StateError(f"batch {batch.number} is {batch.status}; only a created batch can be released to the floor")
    batch.status = BatchStatus.READY.value
    ctx.record(
        session,
        actor=actor,
        action="batch.released_to_floor",
        entity=Entity("batch", batch.number),
        before={"status": BatchStatus.CREATED.value},
        after={"status": batch.status},
    )
    return batch


def list_batches(session: Session, *, status: str | None = None, limit: int = 200) -> list[Batch]:
    """Batches, newest first, optionally of one status."""
    query = select(Batch).order_by(Batch.created_at.desc()).limit(limit)
    if status:
        query = query.where(Batch.status == status)
    return list(session.scalars(query))


def batch_json(batch: Batch) -> dict[str, Any]:
    """The summary view of a batch (API and CLI)."""
    return {
        "id": batch.id,
        "number": batch.number,
        "order": batch.production_order,
        "recipe": batch.recipe_name,
        "recipe_version": batch.recipe_version,
        "product": batch.product_code,
        "size": batch.size,
        "unit": batch.size_unit,
        "status": batch.status,
        "state": batch.state,
        "version": batch.version,
        "created_at": batch.created_at,
        "created_by": batch.created_by,
        "started_at": batch.started_at,
        "ended_at": batch.ended_at,
        "output_lot": batch.output_lot_id,
    }
