"""Genealogy: which lots went into which batch, and which lot a batch made, traced both ways.

Backward: a lot made by a batch (``lot.produced_by``) came from the lots that batch
consumed (``material_consumption``), and so on up to the received raw materials.
Forward: a lot consumed by batches went into their output lots, and so on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ebr.core.errors import NotFound
from ebr.execution.models import Batch
from ebr.materials.models import Lot, MaterialConsumption

MAX_DEPTH = 20
NO_OUTPUT = "(no output lot yet)"


@dataclass
class TraceNode:
    """A lot in a trace, the batch on the link, and what follows it."""

    lot: str
    material: str
    status: str
    batch: str | None = None
    quantity: Decimal | None = None
    unit: str | None = None
    children: list[TraceNode] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "lot": self.lot,
            "material": self.material,
            "status": self.status,
            "batch": self.batch,
            "quantity": None if self.quantity is None else format(self.quantity, "f"),
            "unit": self.unit,
            "children": [c.as_json() for c in self.children],
        }

    def lines(self, depth: int = 0) -> list[str]:
        via = f" via {self.batch}" if self.batch else ""
        amount = f" {self.quantity} {self.unit}" if self.quantity is not None else ""
        own = f"{'  ' * depth}{self.lot} ({self.material}, {self.status}){amount}{via}"
        return [own, *(line for child in self.children for line in child.lines(depth + 1))]


def _lot(session: Session, lot_number: str) -> Lot:
    lot = session.scalars(select(Lot).where(Lot.lot_number == lot_number)).first()
    if lot is None:
        raise NotFound(f"no lot {lot_number!r}")
    return lot


def _node(lot: Lot, batch: str | None = None, quantity: Decimal | None = None) -> TraceNode:
    return TraceNode(lot.lot_number, lot.material_code, lot.status, batch, quantity, lot.unit)


def backward(session: Session, lot_number: str) -> TraceNode:
    """The lot and, recursively, the lots consumed by the batch that made it."""
    root = _node(_lot(session, lot_number))
    _backward(session, _lot(session, lot_number), root, 0)
    return root


def _backward(session: Session, lot: Lot, node: TraceNode, depth: int) -> None:
    if lot.produced_by is None or depth >= MAX_DEPTH:
        return
    batch = session.get(Batch, lot.produced_by)
    label = batch.number if batch else lot.produced_by
    query = select(MaterialConsumption, Lot).join(Lot, MaterialConsumption.lot_id == Lot.id)
    for use, source in session.execute(query.where(MaterialConsumption.batch_id == lot.produced_by)):
        child = _node(source, label, use.quantity)
        node.children.append(child)
        _backward(session, source, child, depth + 1)


def forward(session: Session, lot_number: str) -> TraceNode:
    """The lot and, recursively, the output lots of the batches that consumed it."""
    lot = _lot(session, lot_number)
    root = _node(lot)
    _forward(session, lot, root, 0)
    return root


def _forward(session: Session, lot: Lot, node: TraceNode, depth: int) -> None:
    # Three queries per lot whatever the number of batches (a raw material may go into
    # hundreds): its uses, their batches' numbers, their output lots.
    if depth >= MAX_DEPTH:
        return
    uses = session.execute(
        select(MaterialConsumption.batch_id, MaterialConsumption.quantity)
        .where(MaterialConsumption.lot_id == lot.id)
        .order_by(MaterialConsumption.consumed_at, MaterialConsumption.id)
    ).all()
    if not uses:
        return
    taken: dict[str, Decimal] = {}
    for batch_id, quantity in uses:
        taken[batch_id] = taken.get(batch_id, Decimal(0)) + quantity
    ids = list(taken)
    numbers = {row.id: row.number for row in session.execute(select(Batch.id, Batch.number).where(Batch.id.in_(ids)))}
    outputs: dict[str, list[Lot]] = {}
    for out in session.scalars(select(Lot).where(Lot.produced_by.in_(ids)).order_by(Lot.lot_number)):
        outputs.setdefault(out.produced_by or "", []).append(out)
    for batch_id, amount in taken.items():
        label = numbers.get(batch_id, batch_id)
        if batch_id not in outputs:
            node.children.append(TraceNode(NO_OUTPUT, "-", "-", label, amount, lot.unit))
        for out in outputs.get(batch_id, []):
            child = _node(out, label, amount)
            node.children.append(child)
            _forward(session, out, child, depth + 1)


def batch_genealogy(session: Session, batch: Batch) -> dict[str, Any]:
    """The inputs (lots and quantities per step) and the output lot of one batch."""
    query = select(MaterialConsumption, Lot).join(Lot, MaterialConsumption.lot_id == Lot.id)
    inputs = [
        {
            "lot": lot.lot_number,
            "material": lot.material_code,
            "container": use.container,
            "quantity": format(use.quantity, "f"),
            "unit": use.unit,
            "step": use.step_path,
            "consumed_at": use.consumed_at.isoformat(),
            "consumed_by": use.consumed_by,
        }
        for use, lot in session.execute(
            query.where(MaterialConsumption.batch_id == batch.id).order_by(MaterialConsumption.consumed_at)
        )
    ]
    outputs = [o.lot_number for o in session.scalars(select(Lot).where(Lot.produced_by == batch.id))]
    return {"batch": batch.number, "inputs": inputs, "outputs": outputs}
