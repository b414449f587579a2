"""Writing B2MML: acknowledgements (ConfirmBOD) and performance documents.

Every performance document written is validated against its schema before it is
queued (:func:`ebr.integration.b2mml.validate`): a document the ERP would refuse is a
bug here, raised at once, not a dead letter later. Acknowledgements are validated by
the tests (their variable parts are our notes and the validated original envelope).

Performance documents (V0701 ``SyncOperationsPerformance``, V0401
``SyncProductionPerformance``) carry one response for the order, with the
produced lot (goods receipt), the consumed lots and containers (goods issue) and
the order's state; the order status, goods issue and goods receipt messages are
the same document with only their part filled in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from lxml import etree

from ebr.core.canonical import decimal_text
from ebr.core.errors import EbrError
from ebr.integration.b2mml import NAMESPACES, MessageRefused, Schema, validate

SENDER = "EBR"


@dataclass(frozen=True)
class MaterialActual:
    """A quantity of a lot (and container) consumed or produced."""

    material: str
    lot: str
    quantity: Decimal
    unit: str
    container: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class Performance:
    """What the batch did for an order."""

    order_id: str
    batch_number: str
    state: str
    started: dt.datetime | None
    ended: dt.datetime | None
    consumed: tuple[MaterialActual, ...] = ()
    produced: tuple[MaterialActual, ...] = ()
    note: str | None = None


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


class _Builder:
    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.ns = NAMESPACES[schema]

    def el(self, parent: Any, name: str, text: str | None = None, **attrs: str) -> Any:
        element = etree.SubElement(parent, f"{{{self.ns}}}{name}", attrs) if parent is not None else None
        if element is None:
            element = etree.Element(f"{{{self.ns}}}{name}", attrs, nsmap={None: self.ns})
        if text is not None:
            element.text = text
        return element

    def application_area(self, root: Any, bod_id: str, at: dt.datetime) -> None:
        area = self.el(root, "ApplicationArea")
        self.el(self.el(area, "Sender"), "LogicalID", SENDER)
        self.el(area, "CreationDateTime", _stamp(at))
        self.el(area, "BODID", bod_id)


def confirm_bod(
    schema: Schema, *, bod_id: str, at: dt.datetime, original: Any | None, lines: Sequence[str], accepted: bool
) -> bytes:
    """A ConfirmBOD answering a message: ``accepted`` or the error, one BOD Description per line."""
    b = _Builder(schema)
    root = b.el(None, "ConfirmBOD")
    b.application_area(root, bod_id, at)
    data = b.el(root, "DataArea")
    confirm = b.el(data, "Confirm")
    if original is not None and etree.QName(original).namespace == b.ns:
        copy = etree.fromstring(etree.tostring(original))
        copy.tag = f"{{{b.ns}}}OriginalApplicationArea"
        confirm.append(copy)
    bod = b.el(data, "BOD")
    b.el(bod, "Description", "accepted" if accepted else "error")
    for line in lines:
        b.el(bod, "Note", line)
    # Not validated here (tests validate both releases' answers): its only variable parts are our
    # notes and the sender's ApplicationArea, which was validated as part of the message answered.
    answer: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return answer


def performance(schema: Schema, perf: Performance, *, bod_id: str, at: dt.datetime) -> bytes:
    """The performance document of ``perf`` (validated)."""
    b = _Builder(schema)
    if schema is Schema.V0701:
        root = b.el(None, "SyncOperationsPerformance", releaseID=schema.value)
        b.application_area(root, bod_id, at)
        data = b.el(root, "DataArea")
        b.el(data, "Sync")
        doc = b.el(data, "OperationsPerformance")
        b.el(doc, "ID", f"{perf.batch_number}-{bod_id}")
        if perf.note:
            b.el(doc, "Description", perf.note)
        b.el(doc, "PublishedDate", _stamp(at))
        response = b.el(doc, "OperationsResponse")
        b.el(response, "ID", perf.batch_number)
        _times(b, response, perf, "StartTime", "EndTime")
        b.el(response, "OperationsRequestID", perf.order_id)
        _state(b, response, perf.state)
        segment = b.el(response, "SegmentResponse")
        b.el(segment, "ID", perf.batch_number)
        _times(b, segment, perf, "ActualStartTime", "ActualEndTime")
        for n, actual in enumerate((*perf.produced, *perf.consumed), start=1):
            use = "Produced" if actual in perf.produced else "Consumed"
            item = b.el(segment, "MaterialActual")
            b.el(item, "ID", f"{use[0]}{n}")
            _actual(b, item, actual, use, data_type=False)
    else:
        root = b.el(None, "SyncProductionPerformance", releaseID=schema.value)
        b.application_area(root, bod_id, at)
        data = b.el(root, "DataArea")
        b.el(data, "Sync")
        doc = b.el(data, "ProductionPerformance")
        b.el(doc, "ID", f"{perf.batch_number}-{bod_id}")
        if perf.note:
            b.el(doc, "Description", perf.note)
        b.el(doc, "PublishedDate", _stamp(at))
        response = b.el(doc, "ProductionResponse")
        b.el(response, "ID", perf.batch_number)
        b.el(response, "ProductionRequestID", perf.order_id)
        _times(b, response, perf, "StartTime", "EndTime")
        segment = b.el(response, "SegmentResponse")
        b.el(segment, "ID", perf.batch_number)
        _times(b, segment, perf, "ActualStartTime", "ActualEndTime")
        for actual in perf.produced:
            _actual(b, b.el(segment, "MaterialProducedActual"), actual, None, data_type=True)
        for actual in perf.consumed:
            _actual(b, b.el(segment, "MaterialConsumedActual"), actual, None, data_type=True)
        _state(b, response, perf.state)
    return _finish(root, schema, "schedule")


STATES = ("Ready", "Running", "Completed", "Aborted")


def _state(b: _Builder, parent: Any, state: str) -> None:
    """B2MML's response states; anything else (QA released, rejected) is ``Other`` with its name."""
    if state in STATES:
        b.el(parent, "ResponseState", state)
    else:
        b.el(parent, "ResponseState", "Other", OtherValue=state)


def _times(b: _Builder, parent: Any, perf: Performance, start: str, end: str) -> None:
    if perf.started is not None:
        b.el(parent, start, _stamp(perf.started))
    if perf.ended is not None:
        b.el(parent, end, _stamp(perf.ended))


def _actual(b: _Builder, item: Any, actual: MaterialActual, use: str | None, *, data_type: bool) -> None:
    b.el(item, "MaterialDefinitionID", actual.material)
    b.el(item, "MaterialLotID", actual.lot)
    if actual.container:
        b.el(item, "MaterialSubLotID", actual.container)
    if actual.status:
        b.el(item, "Description", f"QA status: {actual.status}")
    if use is not None:
        b.el(item, "MaterialUse", use)
    quantity = b.el(item, "Quantity")
    b.el(quantity, "QuantityString", decimal_text(actual.quantity))
    if data_type:
        b.el(quantity, "DataType", "decimal")
    b.el(quantity, "UnitOfMeasure", actual.unit)


class OutboundInvalid(EbrError):
    """A document we wrote breaks its schema (a bug here: nothing is sent)."""


def _finish(root: Any, schema: Schema, kind: str) -> bytes:
    try:
        validate(root, schema, kind)
    except MessageRefused as exc:
        raise OutboundInvalid(f"the {etree.QName(root).localname} written is not valid B2MML: {exc}") from None
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return data
