"""Creating batches from approved recipes and moving them through their lifecycle.

created → ready (released to the floor) → in_execution → complete → reviewed →
released / rejected (the last two by QA in the review package). The control recipe
is a frozen, scaled copy of the master recipe version, hashed at creation.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from audit.chain import Entity
from ebr.core.canonical import content_hash, jsonable
from ebr.core.errors import Conflict, StateError, ValidationError
from ebr.core.ids import new_id
from ebr.execution.context import Context, check_version
from ebr.execution.models import Batch, BatchStep
from ebr.execution.plan import build_plan, parent_of
from ebr.execution.rules import BatchStatus, parse_decimal
from recipes.model import Phase, Recipe
from recipes.scaling import scale
from recipes.states import State


def _number(session: Session, ctx: Context) -> str:
    day = ctx.clock.now().strftime("%Y%m%d")
    count = session.scalar(select(func.count()).select_from(Batch).where(Batch.number.like(f"B{day}-%"))) or 0
    return f"B{day}-{count + 1:04d}"


def _insert_numbered(session: Session, ctx: Context, batch: Batch) -> None:
    """Insert ``batch`` with the day's next number; a number taken meanwhile (PostgreSQL) is retried."""
    for _attempt in range(5):
        batch.number = _number(session, ctx)
        try:
            with session.begin_nested():
                session.add(batch)
                session.flush()
            return
        except IntegrityError:
            continue  # another process committed this number between our count and our insert
    raise Conflict("could not give the batch a number (many batches created at once); try again")


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
    )
    _insert_numbered(session, ctx, batch)
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
    # One executemany: a 10,000-step control recipe is created in one statement.
    session.execute(insert(BatchStep), rows)
    return len(rows)


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
