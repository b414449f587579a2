"""Creating batches from approved recipes and moving them through their lifecycle.

created → ready (released to the floor) → in_execution → complete → reviewed →
released / rejected (the last two by QA in the review package). The control recipe
is a frozen, scaled copy of the master recipe version, hashed at creation.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from typing import Any, cast

from sqlalchemy import Executable, Table, bindparam, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, make_transient_to_detached

from audit.chain import Entity
from ebr.core.canonical import content_hash, jsonable
from ebr.core.errors import StateError, ValidationError
from ebr.core.ids import new_id
from ebr.execution.context import Context, check_version
from ebr.execution.models import Batch, BatchNumber, BatchStep
from ebr.execution.plan import build_plan, parent_of
from ebr.execution.rules import BatchStatus, parse_decimal
from recipes.model import Phase, Recipe
from recipes.scaling import scale
from recipes.states import State


def _number(session: Session, ctx: Context) -> str:
    """The day's next batch number, counted up in ``batch_number`` in the caller's transaction.

    One statement (an upsert returning the new count); its row lock is held to commit,
    so a concurrent creator waits and then counts on (no duplicates), and a rollback
    gives the number back (no gaps). Every batch creation also writes audit events; on
    PostgreSQL the chain's lock is taken when they are linked, at commit (audit.trail),
    so creators take the counter's lock first and the chain's last and cannot wait on
    each other. (SQLite: the transaction holds the database's write lock already.)
    """
    day = ctx.clock.now().strftime("%Y%m%d")
    connection = session.connection()
    last: int = connection.execute(_counting(connection.dialect.name), {"day": day}).scalar_one()
    return f"B{day}-{last:04d}"


@cache
def _counting(dialect: str) -> Executable:
    """The counter's upsert (built once: building it costs more than running it)."""
    table = cast(Table, BatchNumber.__table__)
    upsert = pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)
    counted = upsert.values(day=bindparam("day"), last=1).on_conflict_do_update(
        index_elements=[table.c.day], set_={"last": table.c.last + 1}
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
    amount = parse_decimal("batch size", size)
    if not order.strip():
        raise ValidationError("a production order number is required (--order)")
    control = scale(master, amount)
    document = jsonable(control.to_dict())
    now = ctx.clock.now()
    batch = Batch(
        id=new_id(),
        number="",
        production_order=order.strip(),
        recipe_name=master.name,
        recipe_version=version,
        product_code=master.product.code,
        size=amount,
        size_unit=master.batch_size.unit,
        control_recipe=document,
        control_recipe_hash=content_hash(document),
        status=BatchStatus.CREATED.value,
        state=State.IDLE.value,
        created_at=now,
        created_by=actor,
        output_lot_id=None,
        started_at=None,
        ended_at=None,
        version=1,
    )
    batch.number = _number(session, ctx)
    _insert(session, batch)  # the batch row before its steps (their foreign key)
    count = _add_steps(session, batch, control)
    after = {
        "number": batch.number,
        "recipe": master.name,
        "recipe_version": version,
        "size": amount,
        "unit": batch.size_unit,
        "order": batch.production_order,
        "control_recipe_hash": batch.control_recipe_hash,
        "steps": count,
    }
    ctx.record(session, actor=actor, action="batch.created", entity=Entity("batch", batch.number), after=after)
    return batch


def _insert(session: Session, batch: Batch) -> None:
    """INSERT the new ``batch`` (one Core statement, built once) and make it the session's, as a flush would.

    The unit of work's flush of one object costs three times its round trip; every column
    is set, so the object is complete as it is (nothing to expire or load).
    """
    table = cast(Table, Batch.__table__)
    session.execute(_inserting(table), {c.key: getattr(batch, c.key) for c in table.columns}).close()
    make_transient_to_detached(batch)
    session.add(batch)


def _add_steps(session: Session, batch: Batch, control: Recipe) -> int:
    plan = build_plan(control)
    rows = []
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
    # One multi-row INSERT (SQLAlchemy's "insertmanyvalues", pages of 1,000 rows): RETURNING is
    # what makes psycopg use it rather than one INSERT a row in a pipeline. A Core statement on
    # the table, built once (the ORM's bulk path costs twice the round trip), executed through
    # the session so that the rows' images are written (ebr.ops.images notes its keys).
    session.execute(_inserting(cast(Table, BatchStep.__table__)), rows).close()
    return len(rows)


@cache
def _inserting(table: Table) -> Executable:
    return insert(table).returning(table.c[next(iter(table.primary_key.columns)).name])


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
