"""Applying inbound ERP messages: one message, one transaction, one acknowledgement.

:meth:`Integration.receive` parses and validates the message, refuses a repeat of a
message id with the acknowledgement it sent the first time (changing nothing), and
applies each order with its audit events in the caller's transaction:

* a new order becomes a planned batch (status ``created``) of the recipe effective
  for its product, scaled to the order's quantity — or is stored ``held`` with the
  reason (no effective recipe, size outside the recipe's range, unit that does not
  convert, unknown material); the order's bill of materials is kept either way;
* a change of an order whose batch has not started cancels the planned batch and
  plans a new one; a cancellation cancels it; either is refused (and reported in the
  acknowledgement) once the batch has started;
* a message about an order older than the version applied (out of order) or equal to
  it (a repeat under a new message id) changes nothing and says so.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.chain import Entity
from audit.trail import AuditTrail
from ebr.core.clock import Clock
from ebr.core.db import insert_as_flushed
from ebr.core.errors import EbrError
from ebr.core.ids import new_id
from ebr.execution.batches import BatchOrder
from ebr.execution.models import Batch
from ebr.execution.rules import BatchStatus
from ebr.integration.b2mml import Document, MessageRefused, OrderRequest, Schema
from ebr.integration.b2mml_material import MaterialDocument, read
from ebr.integration.b2mml_out import confirm_bod
from ebr.integration.models import InboundMessage, ProcessOrder
from ebr.integration.orders import (
    NOT_STARTED,
    Effective,
    OrderStatus,
    Recipes,
    batch_text,
    older,
    plan,
    requested,
    stored,
)
from recipes.model import Recipe

ACTOR = "system:erp"


class BatchFactory(Protocol):
    """The part of ``ebr.execution.service.Execution`` that plans a batch."""

    def create_from_recipe(
        self, session: Session, *, actor: str, master: Recipe, version: str, size: Decimal | str, order: str
    ) -> Batch: ...

    def create_from_recipes(self, session: Session, *, actor: str, orders: Sequence[BatchOrder]) -> list[Batch]: ...


class MasterDataApplier(Protocol):
    """:class:`ebr.integration.masterdata.MasterData`: materials, lots and inventory from the ERP."""

    def apply(self, session: Session, doc: MaterialDocument, mid: str) -> list[str]: ...


@dataclass
class Receipt:
    """What became of an inbound message: the acknowledgement and one line per order."""

    acknowledgement: bytes
    message_id: str
    duplicate: bool = False
    accepted: bool = True
    lines: list[str] = field(default_factory=list)


def body_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class _Work:
    """What one transaction's messages share: read once, written together."""

    seen: dict[str, InboundMessage]
    known: dict[str, ProcessOrder | None]
    recipes: dict[str, Effective]
    new_rows: list[InboundMessage | ProcessOrder]
    prebuilt: dict[str, Batch] = field(default_factory=dict)  # the new orders' batches, by order id
    planned: dict[str, BatchOrder | str] = field(default_factory=dict)  # their plans (or why held), by order id


class Integration:
    """Inbound ERP messages (outbound ones are written by :mod:`ebr.integration.outbox`)."""

    def __init__(
        self,
        *,
        audit: AuditTrail,
        clock: Clock,
        recipes: Recipes,
        batches: BatchFactory,
        master: MasterDataApplier | None = None,
    ) -> None:
        self.audit = audit
        self.clock = clock
        self.recipes = recipes
        self.batches = batches
        self.master = master

    def refusal(self, exc: MessageRefused, *, schema: Schema | None = None) -> bytes:
        """The error acknowledgement for a refused message (nothing was stored)."""
        return confirm_bod(
            exc.schema or schema or Schema.V0701,
            bod_id=new_id(),
            at=self.clock.now(),
            original=None,
            lines=[exc.summary],
            accepted=False,
        )

    def receive(self, session: Session, data: bytes, *, channel: str, message_id: str | None = None) -> Receipt:
        """Apply one message in ``session``'s transaction; raises MessageRefused (nothing stored)."""
        [receipt] = self.receive_parsed(session, [(read(data), data, message_id)], channel=channel)
        return receipt

    def receive_parsed(
        self,
        session: Session,
        messages: Sequence[tuple[Document | MaterialDocument, bytes, str | None]],
        *,
        channel: str,
    ) -> list[Receipt]:
        """Apply parsed messages in order, all in ``session``'s transaction (each with its audit events).

        What every message needs from the database is read once for all of them: the
        message ids seen before, the order rows (locked), the recipe effective for each
        product. A message id twice in ``messages`` is applied once (the second is the
        duplicate). Nothing here refuses a whole message after writing (parsing did that).
        """
        mids = [(message_id or doc.bod_id or body_hash(data))[:200] for doc, data, message_id in messages]
        seen: dict[str, InboundMessage] = {
            row.message_id: row
            for row in session.scalars(select(InboundMessage).where(InboundMessage.message_id.in_(set(mids))))
        }
        wanted = sorted({order.order_id for doc, _, _ in messages if isinstance(doc, Document) for order in doc.orders})
        known: dict[str, ProcessOrder | None] = dict.fromkeys(wanted)
        for start in range(0, len(wanted), 500):
            query = select(ProcessOrder).where(ProcessOrder.order_id.in_(wanted[start : start + 500]))
            for row in session.scalars(query.order_by(ProcessOrder.order_id).with_for_update()):
                known[row.order_id] = row
        work = _Work(seen, known, {}, [])
        self._plan_new(session, [doc for doc, _, _ in messages], mids, work)
        receipts = [
            self._receive(session, doc, data, mid, channel, work)
            for (doc, data, _), mid in zip(messages, mids, strict=True)
        ]
        if work.prebuilt:  # each was planned for an order applied above; none may be left without one
            raise EbrError(f"batches planned for orders {sorted(work.prebuilt)} were not given to them; nothing stored")
        _insert_new(session, work.new_rows)
        return receipts

    def _plan_new(
        self, session: Session, docs: Sequence[Document | MaterialDocument], mids: Sequence[str], work: _Work
    ) -> None:
        """The batches of the run's new orders, created together (three statements, not three an order).

        A new order is one with no row yet, sent once in the run, not cancelled, in a message
        applied here for the first time; its batch is what :meth:`_plan` would create for it
        (the same checks, made once: :meth:`_plan` takes their outcome, held or not, and hands
        the batch to the order; master data, which could change it, is never in a run of
        orders). Their ``batch.created`` events come before the orders' events.
        """
        sent = Counter(o.order_id for doc in docs if isinstance(doc, Document) for o in doc.orders)
        first: set[str] = set()
        wanted: list[tuple[str, BatchOrder]] = []
        for doc, mid in zip(docs, mids, strict=True):
            repeated = mid in work.seen or mid in first  # a duplicate applies nothing
            first.add(mid)
            if repeated or not isinstance(doc, Document):
                continue
            for order in doc.orders:
                if order.cancel or sent[order.order_id] > 1 or work.known[order.order_id] is not None:
                    continue
                quantity = order.quantity if order.quantity is not None else Decimal(0)
                planned = plan(session, self.recipes, work.recipes, product=order.product or "", quantity=quantity,
                               unit=order.unit or "", order=order)  # fmt: skip
                work.planned[order.order_id] = planned
                if isinstance(planned, BatchOrder):
                    wanted.append((order.order_id, planned))
        if wanted:
            made = self.batches.create_from_recipes(session, actor=ACTOR, orders=[p for _, p in wanted])
            work.prebuilt = {order_id: batch for (order_id, _), batch in zip(wanted, made, strict=True)}

    def _receive(
        self,
        session: Session,
        doc: Document | MaterialDocument,
        data: bytes,
        mid: str,
        channel: str,
        work: _Work,
    ) -> Receipt:
        if mid in work.seen:
            ack = work.seen[mid].acknowledgement.encode()
            return Receipt(ack, mid, duplicate=True, lines=["duplicate: already applied"])
        lines: list[str] = []
        refused = False
        if isinstance(doc, MaterialDocument):
            # Master data may refuse the whole message after writing: the caller applies it alone
            # (Wiring.receive_many), so the refusal rolls back nothing but its own transaction.
            if self.master is None:
                raise MessageRefused(f"{doc.verb}{doc.noun}: master data is not read here", schema=doc.schema)
            lines, keys = self.master.apply(session, doc, mid), doc.keys
        else:
            keys = [o.order_id for o in doc.orders]
            for order in doc.orders:
                line, ok = self._apply(session, doc, order, mid, work)
                lines.append(line)
                refused = refused or not ok
        ack = confirm_bod(
            doc.schema, bod_id=new_id(), at=self.clock.now(), original=doc.application_area, lines=lines,
            accepted=not refused,
        )  # fmt: skip
        inbound = InboundMessage(
            id=new_id(),
            message_id=mid,
            channel=channel,
            schema=doc.schema.value,
            verb=doc.verb,
            noun=doc.noun,
            body_sha256=body_hash(data),
            orders=keys,
            acknowledgement=ack.decode(),
            received_at=self.clock.now(),
        )
        work.new_rows.append(inbound)  # inserted with the batch's others, before its commit
        work.seen[mid] = inbound
        self.audit.record(
            session,
            actor=ACTOR,
            action="erp.message.applied",
            entity=Entity("erp_message", mid),
            after={"channel": channel, "schema": doc.schema.value, "verb": doc.verb, "noun": doc.noun,
                   "sender": doc.sender, "sha256": body_hash(data), "result": lines},
        )  # fmt: skip
        return Receipt(ack, mid, accepted=not refused, lines=lines)

    # -- one order -----------------------------------------------------------------

    def _apply(
        self,
        session: Session,
        doc: Document,
        order: OrderRequest,
        mid: str,
        work: _Work,
    ) -> tuple[str, bool]:
        row = work.known[order.order_id]  # read (and locked) for the whole batch of messages
        line, ok, row = self._apply_to(session, doc, order, mid, row, work)
        work.known[order.order_id] = row
        return line, ok

    def _apply_to(
        self,
        session: Session,
        doc: Document,
        order: OrderRequest,
        mid: str,
        row: ProcessOrder | None,
        work: _Work,
    ) -> tuple[str, bool, ProcessOrder | None]:
        if row is not None:
            stale = older(order, doc.created, row)
            if stale:
                return f"order {order.order_id}: ignored, {stale}", True, row
            same = requested(order) == stored(row)
            if same and row.status != OrderStatus.HELD:
                current = self._batch_of(session, row)
                started = current is not None and current.status not in NOT_STARTED
                if order.revision is not None and order.revision != row.revision and not started:
                    self._new_revision(session, row, doc, order, mid)  # later versions are compared with this one
                return f"order {order.order_id}: unchanged ({row.status}{batch_text(row)})", True, row
            if not same and order.revision is not None and order.revision == row.revision:
                return (
                    f"order {order.order_id}: ignored, version {row.revision} is applied already with other "
                    "content; send the change as a new version",
                    False,
                    row,
                )
            batch = self._batch_of(session, row)
            if batch is not None and batch.status not in NOT_STARTED:
                verb = "cancellation" if order.cancel else "change"
                self.audit.record(
                    session, actor=ACTOR, action="erp.order.refused", entity=Entity("production_order", row.order_id),
                    after={"message": mid, "request": verb, "batch": batch.number, "batch_status": batch.status},
                    reason=f"batch {batch.number} is {batch.status}",
                )  # fmt: skip
                return (
                    f"order {order.order_id}: {verb} refused, batch {batch.number} is {batch.status}; "
                    "only an order whose batch has not started can be changed — handle it on the shop floor",
                    False,
                    row,
                )
            if batch is not None:
                self._cancel_batch(session, batch, order.order_id, "cancelled" if order.cancel else "changed")
        before = None if row is None else stored(row) | {"status": row.status, "batch": row.batch_number}
        row = self._upsert(session, row, doc, order, mid)
        if order.cancel:
            row.status, row.hold_reason, row.batch_id, row.batch_number = OrderStatus.CANCELLED, None, None, None
        else:
            self._plan(session, row, order, work)
        if before is None:
            work.new_rows.append(row)  # a new order: inserted with the batch's other new rows
        else:
            session.add(row)
            session.flush()
        after = stored(row) | {"status": row.status, "batch": row.batch_number, "hold_reason": row.hold_reason}
        action = "erp.order.received" if before is None else "erp.order.changed"
        self.audit.record(
            session, actor=ACTOR, action=action, entity=Entity("production_order", row.order_id),
            before=before, after=after | {"message": mid},
        )  # fmt: skip
        reason = f": {row.hold_reason}" if row.hold_reason else ""
        return f"order {row.order_id}: {row.status}{batch_text(row)}{reason}", True, row

    def _new_revision(self, session: Session, row: ProcessOrder, doc: Document, order: OrderRequest, mid: str) -> None:
        before = {"revision": row.revision, "message": row.message_id}
        row.revision, row.issued_at, row.message_id, row.updated_at = (
            order.revision, doc.created, mid, self.clock.now(),
        )  # fmt: skip
        session.flush()
        self.audit.record(
            session, actor=ACTOR, action="erp.order.changed", entity=Entity("production_order", row.order_id),
            before=before, after={"revision": row.revision, "message": mid, "content": "unchanged"},
        )  # fmt: skip

    def _upsert(
        self, session: Session, row: ProcessOrder | None, doc: Document, order: OrderRequest, mid: str
    ) -> ProcessOrder:
        now = self.clock.now()
        if row is None:
            # added to the session by _apply once planned: one INSERT instead of an INSERT and an UPDATE
            row = ProcessOrder(id=new_id(), order_id=order.order_id, created_at=now, status=OrderStatus.HELD)
        row.schema, row.revision, row.issued_at, row.message_id, row.updated_at = (
            doc.schema.value, order.revision, doc.created, mid, now,
        )  # fmt: skip
        row.product = order.product or row.product or ""
        row.quantity = order.quantity if order.quantity is not None else (row.quantity or Decimal(0))
        row.unit = order.unit or row.unit or ""
        row.start_time, row.end_time, row.priority = order.start, order.end, order.priority
        row.bom = [line.as_json() for line in order.bom]
        row.parameters = [p.as_json() for p in order.parameters]
        return row

    def _plan(self, session: Session, row: ProcessOrder, order: OrderRequest, work: _Work) -> None:
        row.batch_id = row.batch_number = None
        planned = work.planned.pop(row.order_id, None)  # a new order of the run: planned in _plan_new
        if planned is None:
            planned = plan(session, self.recipes, work.recipes, product=row.product, quantity=row.quantity,
                           unit=row.unit, order=order)  # fmt: skip
        if isinstance(planned, str):
            row.status, row.hold_reason = OrderStatus.HELD, planned
            return
        batch = work.prebuilt.pop(row.order_id, None)
        if batch is None:
            batch = self.batches.create_from_recipe(
                session, actor=ACTOR, master=planned.master, version=planned.version, size=planned.size,
                order=row.order_id,
            )  # fmt: skip
        row.status, row.hold_reason, row.batch_id, row.batch_number = OrderStatus.PLANNED, None, batch.id, batch.number

    def _batch_of(self, session: Session, row: ProcessOrder) -> Batch | None:
        return None if row.batch_id is None else session.get(Batch, row.batch_id, with_for_update=True)

    def _cancel_batch(self, session: Session, batch: Batch, order_id: str, why: str) -> None:
        before = batch.status
        batch.status = BatchStatus.ABORTED.value
        batch.ended_at = self.clock.now()
        session.flush()
        self.audit.record(
            session, actor=ACTOR, action="batch.cancelled", entity=Entity("batch", batch.number),
            before={"status": before}, after={"status": batch.status, "order": order_id},
            reason=f"ERP order {order_id} {why} before the batch started",
        )  # fmt: skip


def _insert_new(session: Session, rows: Sequence[InboundMessage | ProcessOrder]) -> None:
    """INSERT the run's new order rows and inbound log, one executemany per table (``insert_as_flushed``:
    the unit of work's flush of 100 objects was 8 % of an order's time). Every column is set, as a
    flush would (a new order is version 1)."""
    fresh: dict[type[InboundMessage | ProcessOrder], list[InboundMessage | ProcessOrder]] = {}
    for row in rows:
        if row not in session:  # a later message of the run may have flushed it already
            fresh.setdefault(type(row), []).append(row)
    for objects in fresh.values():
        for row in objects:
            if isinstance(row, ProcessOrder):
                row.version = 1
        insert_as_flushed(session, objects)
