"""An ERP order judged against what is stored: its content, its age, the batch it gets.

Pure decisions (and the reads they need) for :mod:`ebr.integration.services`, which
writes: whether an order's content differs from its row, whether a message is older
than the version applied, and the batch a new or changed order is planned as — or the
reason it is held (no effective recipe, size outside the recipe's range, a unit that
does not convert, an unknown material).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from ebr.core.errors import EbrError
from ebr.core.units import convert
from ebr.execution.batches import BatchOrder
from ebr.execution.rules import BatchStatus
from ebr.integration.b2mml import OrderRequest
from ebr.integration.models import ProcessOrder
from ebr.materials.models import Material
from recipes.model import Recipe
from recipes.models import RecipeVersion

NOT_STARTED = (BatchStatus.CREATED.value, BatchStatus.READY.value)

Effective = tuple[RecipeVersion, Recipe] | str  # the recipe effective for a product, or why there is none


class OrderStatus:
    PLANNED = "planned"
    HELD = "held"
    CANCELLED = "cancelled"


class Recipes(Protocol):
    """The part of ``recipes.services.RecipeService`` used here."""

    def get_effective(
        self, session: Session, name: str, version: int | str | None = None, at: dt.datetime | None = None
    ) -> tuple[RecipeVersion, Recipe]: ...


def requested(order: OrderRequest) -> dict[str, Any]:
    """What an order asks for, in the shape :func:`stored` gives a row (compared for "unchanged")."""
    return {
        "cancel": order.cancel,
        "product": order.product,
        "quantity": None if order.quantity is None else str(order.quantity),
        "unit": order.unit,
        "bom": [line.as_json() for line in order.bom],
        "parameters": [p.as_json() for p in order.parameters],
        "start": order.start,
        "end": order.end,
        "priority": order.priority,
    }


def stored(row: ProcessOrder) -> dict[str, Any]:
    """What an order row holds (the audit events' ``before``/``after`` start from it)."""
    return {
        "cancel": row.status == OrderStatus.CANCELLED,
        "product": row.product or None,
        "quantity": str(row.quantity) if row.product else None,
        "unit": row.unit or None,
        "bom": row.bom,
        "parameters": row.parameters,
        "start": row.start_time,
        "end": row.end_time,
        "priority": row.priority,
    }


def older(order: OrderRequest, created: dt.datetime, row: ProcessOrder) -> str | None:
    """Why ``order`` is older than what ``row`` holds (None when it is not)."""
    if order.revision and row.revision and order.revision.isdigit() and row.revision.isdigit():
        if int(order.revision) < int(row.revision):
            return f"version {order.revision} is older than version {row.revision} already applied"
        if int(order.revision) > int(row.revision):
            return None
    if created < row.issued_at:
        return f"sent at {created:%Y-%m-%d %H:%M:%S} UTC, before the version already applied ({row.issued_at:%H:%M:%S})"
    return None


def batch_text(row: ProcessOrder) -> str:
    return f", batch {row.batch_number}" if row.batch_number else ""


def plan(
    session: Session,
    recipes: Recipes,
    effective: dict[str, Effective],
    *,
    product: str,
    quantity: Decimal,
    unit: str,
    order: OrderRequest,
) -> BatchOrder | str:
    """The batch an order of ``quantity`` ``unit`` of ``product`` gets, or why it is held.

    ``effective``: the transaction's recipes by product, filled here (read once per product).
    """
    if product not in effective:
        effective[product] = _effective(session, recipes, product)
    found = effective[product]
    if isinstance(found, str):
        return found
    version, recipe = found
    problem = _size_problem(quantity, unit, recipe) or _material_problem(session, order, recipe)
    if problem is not None:
        return problem
    size = convert(quantity, unit, recipe.batch_size.unit)
    return BatchOrder(master=recipe, version=str(version.version), size=size, order=order.order_id)


def _effective(session: Session, recipes: Recipes, product: str) -> Effective:
    names = session.scalars(
        select(RecipeVersion.name).where(RecipeVersion.product_code == product).distinct().order_by(RecipeVersion.name)
    ).all()
    for name in names:
        try:
            return recipes.get_effective(session, name)
        except EbrError:
            continue  # this recipe of the product has no effective version; try the next
    if not names:
        return f"no recipe makes product {product}; author and approve one, then send the order again"
    return f"no effective recipe for product {product} ({', '.join(names)}); approve a version, then resend"


def _size_problem(quantity: Decimal, unit: str, recipe: Recipe) -> str | None:
    size = recipe.batch_size
    try:
        amount = convert(quantity, unit, size.unit)
    except EbrError:
        return f"the order's unit {unit!r} does not convert to the recipe's {size.unit!r}"
    if not size.min <= amount <= size.max:
        return f"size {quantity} {unit} is outside recipe {recipe.name}'s range {size.min}–{size.max} {size.unit}"
    return None


def _material_problem(session: Session, order: OrderRequest, recipe: Recipe) -> str | None:
    known = {m.code for m in recipe.bill_of_materials.materials}
    codes = sorted({line.material for line in order.bom} - known)
    if codes:
        registered = set(session.scalars(select(Material.code).where(Material.code.in_(codes))))
        unknown = [c for c in codes if c not in registered]
        if unknown:
            return f"unknown material {', '.join(unknown)}: not in the material master nor in recipe {recipe.name}"
    return None
