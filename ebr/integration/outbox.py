"""The transactional outbox: messages to the ERP and the LIMS, written with the change that causes them.

:meth:`Outbox.after_append` is an audit-trail hook (``AuditTrail(after_append=…)``,
set up in the composition root): every GMP change is appended to the audit trail
in its own transaction, so a message row added here commits or rolls back with
that change — no message about a change that did not happen, no change without
its message. The execution and release services need no call of their own.

========================  ==============================================================
audit event               message (batches planned from an ERP order only)
========================  ==============================================================
batch.released_to_floor   order status Ready
batch.started             order status Running
batch.completed           order status Completed
batch.released            the performance document (goods issue, goods receipt, yield)
batch.rejected            order status Rejected
batch.command.abort       order status Aborted
lot.consumed              goods issue of that lot and container
lot.received (produced)   goods receipt of the batch's lot, in quarantine
lot.status.changed        goods receipt with the produced lot's new QA status
batch.step.completed      (sample phase) the sample announced to the LIMS, any batch
========================  ==============================================================
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.trail import AppendedEvent
from ebr.core.canonical import canon, jsonable
from ebr.core.clock import Clock
from ebr.core.ids import new_id
from ebr.execution.models import Batch, BatchStep, StepEntry
from ebr.integration.b2mml import Schema
from ebr.integration.b2mml_out import MaterialActual, Performance, performance
from ebr.integration.models import OutboxMessage, ProcessOrder
from ebr.integration.settings import IntegrationSettings
from ebr.materials.models import Lot, MaterialConsumption

XML = "application/xml"
JSON = "application/json"

STATUS = {
    "batch.released_to_floor": "Ready",
    "batch.started": "Running",
    "batch.completed": "Completed",
    "batch.rejected": "Rejected",
    "batch.command.abort": "Aborted",
}


class Outbox:
    """Writes outbound messages in the caller's transaction."""

    def __init__(self, *, clock: Clock, settings: IntegrationSettings) -> None:
        self.clock = clock
        self.settings = settings
        self._last: dt.datetime | None = None
        self._lock = threading.Lock()
        self._handlers: dict[str, Callable[[Session, AppendedEvent], None]] = {
            **dict.fromkeys(STATUS, self._status),
            "batch.released": self._released,
            "lot.consumed": self._goods_issue,
            "lot.received": self._goods_receipt,
            "lot.status.changed": self._goods_receipt,
            "batch.step.completed": self._sample,
        }

    def enabled(self, channel: str) -> bool:
        return self.settings.channel(channel).transport != "off"

    def enqueue(
        self,
        session: Session,
        *,
        channel: str,
        kind: str,
        body: bytes | str,
        content_type: str = XML,
        order_id: str | None = None,
        batch_number: str | None = None,
        message_id: str | None = None,
    ) -> OutboxMessage:
        """Add a message; it is delivered once the transaction commits."""
        now = self.clock.now()
        written = self._stamp(now)
        row = OutboxMessage(
            id=new_id(),
            message_id=message_id or new_id(),
            channel=channel,
            kind=kind,
            content_type=content_type,
            body=body.decode() if isinstance(body, bytes) else body,
            order_id=order_id,
            batch_number=batch_number,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=written,
        )
        session.add(row)
        return row

    def _stamp(self, now: dt.datetime) -> dt.datetime:
        """``now``, or a microsecond after the last message written: the worker sends in this order."""
        with self._lock:
            if self._last is not None and now <= self._last:
                now = self._last + dt.timedelta(microseconds=1)
            self._last = now
            return now

    # -- the audit hook ------------------------------------------------------------

    def after_append(self, session: Session, event: AppendedEvent) -> None:
        """Write the message an audit event calls for (see the module's table)."""
        handler = self._handlers.get(event.action)
        if handler is not None:
            handler(session, event)

    def _order_of(self, session: Session, *, number: str | None = None, batch_id: str | None = None) -> Any:
        if not self.enabled("erp"):
            return None
        query = select(ProcessOrder, Batch).join(Batch, Batch.id == ProcessOrder.batch_id)
        query = query.where(Batch.number == number) if number else query.where(Batch.id == batch_id)
        return session.execute(query).first()

    def _status(self, session: Session, event: AppendedEvent) -> None:
        found = self._order_of(session, number=event.entity_id)
        if found is None:
            return
        order, batch = found
        after = _after(event)
        if event.action == "batch.command.abort" and after.get("status") != "aborted":
            return
        self._performance(session, order, batch, STATUS[event.action], kind="order_status")

    def _released(self, session: Session, event: AppendedEvent) -> None:
        found = self._order_of(session, number=event.entity_id)
        if found is None:
            return
        order, batch = found
        consumed = _consumed(session, batch.id)
        produced = _produced(session, batch.id)
        made = sum((p.quantity for p in produced), Decimal(0))
        note = f"released by QA; yield {_percent(made, batch.size)} of the planned {batch.size} {batch.size_unit}"
        self._performance(
            session, order, batch, "Released", kind="performance", consumed=consumed, produced=produced, note=note
        )

    def _goods_issue(self, session: Session, event: AppendedEvent) -> None:
        after = _after(event)
        found = self._order_of(session, batch_id=str(after.get("batch") or ""))
        if found is None:
            return
        order, batch = found
        latest = session.scalars(
            select(MaterialConsumption)
            .join(Lot, Lot.id == MaterialConsumption.lot_id)
            .where(MaterialConsumption.batch_id == batch.id, Lot.lot_number == event.entity_id)
            .order_by(MaterialConsumption.consumed_at.desc())
            .limit(1)
        ).first()
        if latest is None:
            return
        lot = session.get(Lot, latest.lot_id)
        assert lot is not None
        actual = MaterialActual(lot.material_code, lot.lot_number, latest.quantity, latest.unit, latest.container)
        self._performance(session, order, batch, "Running", kind="goods_issue", consumed=(actual,))

    def _goods_receipt(self, session: Session, event: AppendedEvent) -> None:
        lot = session.scalars(select(Lot).where(Lot.lot_number == event.entity_id)).first()
        if lot is None or lot.produced_by is None:
            return
        found = self._order_of(session, batch_id=lot.produced_by)
        if found is None:
            return
        order, batch = found
        produced = (MaterialActual(lot.material_code, lot.lot_number, lot.quantity, lot.unit, status=lot.status),)
        state = "Completed" if batch.status == "complete" else STATUS.get(f"batch.{batch.status}", "Completed")
        self._performance(session, order, batch, state, kind="goods_receipt", produced=produced)

    def _performance(
        self,
        session: Session,
        order: ProcessOrder,
        batch: Batch,
        state: str,
        *,
        kind: str,
        consumed: Sequence[MaterialActual] = (),
        produced: Sequence[MaterialActual] = (),
        note: str | None = None,
    ) -> None:
        message_id = new_id()
        perf = Performance(
            order_id=order.order_id,
            batch_number=batch.number,
            state=state,
            started=batch.started_at,
            ended=batch.ended_at,
            consumed=tuple(consumed),
            produced=tuple(produced),
            note=note,
        )
        body = performance(Schema(order.schema), perf, bod_id=message_id, at=self.clock.now())
        self.enqueue(
            session, channel="erp", kind=kind, body=body, order_id=order.order_id, batch_number=batch.number,
            message_id=message_id,
        )  # fmt: skip

    def _sample(self, session: Session, event: AppendedEvent) -> None:
        if not self.enabled("lims"):
            return
        number, _, path = event.entity_id.partition("/")
        row = session.execute(
            select(BatchStep, Batch)
            .join(Batch, Batch.id == BatchStep.batch_id)
            .where(Batch.number == number, BatchStep.path == path, BatchStep.phase_type == "sample")
        ).first()
        if row is None:
            return
        step, batch = row
        entries = session.scalars(
            select(StepEntry).where(
                StepEntry.step_id == step.id, StepEntry.name == "sample_id", StepEntry.superseded_at.is_(None)
            )
        ).all()
        if not entries:
            return
        sample_id = entries[-1].value
        order = session.scalars(select(ProcessOrder.order_id).where(ProcessOrder.batch_id == batch.id)).first()
        announcement = {
            "type": "sample.announced",
            "sample_id": sample_id,
            "material": batch.product_code,
            "batch": batch.number,
            "order": order,
            "step": path,
            "tests": _tests(batch, path),
            "taken_at": event.ts,
            "taken_by": event.actor,
        }
        self.enqueue(
            session, channel="lims", kind="sample", body=canon(jsonable(announcement)).decode(), content_type=JSON,
            order_id=order, batch_number=batch.number,
        )  # fmt: skip


def _after(event: AppendedEvent) -> dict[str, Any]:
    after = json.loads(event.canonical).get("after") or {}
    return after if isinstance(after, dict) else {}


def _tests(batch: Batch, path: str) -> list[str]:
    from recipes.model import Recipe

    try:
        params = Recipe.from_dict(batch.control_recipe).phase(path).params
    except KeyError:
        return []
    return list(getattr(params, "tests", ()) or ())


def _consumed(session: Session, batch_id: str) -> tuple[MaterialActual, ...]:
    rows = session.execute(
        select(MaterialConsumption, Lot)
        .join(Lot, Lot.id == MaterialConsumption.lot_id)
        .where(MaterialConsumption.batch_id == batch_id)
        .order_by(MaterialConsumption.consumed_at, MaterialConsumption.id)
    ).all()
    return tuple(MaterialActual(lot.material_code, lot.lot_number, c.quantity, c.unit, c.container) for c, lot in rows)


def _produced(session: Session, batch_id: str) -> tuple[MaterialActual, ...]:
    lots = session.scalars(select(Lot).where(Lot.produced_by == batch_id).order_by(Lot.lot_number)).all()
    return tuple(
        MaterialActual(lot.material_code, lot.lot_number, lot.quantity, lot.unit, status=lot.status) for lot in lots
    )


def _percent(made: Decimal, planned: Decimal) -> str:
    if planned == 0:
        return "n/a"
    return f"{(made / planned * 100).quantize(Decimal('0.1'))} %"
