"""Reading B2MML process orders (V0401 ProductionSchedule, V0701 OperationsSchedule).

Every message is parsed by lxml with DTDs, entities and network access switched off
(a message with a DOCTYPE is refused outright: billion laughs, external entities),
then validated against its B2MML schema, then read into plain frozen dataclasses.
Whatever is wrong is a :class:`MessageRefused` naming the element and the problem;
nothing here touches the database.

Validation is libxml2's (``lxml.etree.XMLSchema``, compiled once per process and
thread): about 0.1 ms a message. Only a message it refuses is validated again with
``xmlschema``, whose error says the element's path and the problem in words; should
xmlschema find nothing wrong, libxml2's first error is reported instead — a message
is refused whenever either validator refuses it.

The writers (acknowledgements and performance documents) are in
:mod:`ebr.integration.b2mml_out`.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import xmlschema
from lxml import etree

from ebr.core.errors import ValidationError

MAX_BYTES = 4 * 1024 * 1024
"""The largest message accepted (a schedule of many orders is well under a megabyte)."""


class Schema(StrEnum):
    """The B2MML release a message is written in."""

    V0401 = "V0401"
    V0701 = "V0701"


NAMESPACES = {Schema.V0401: "http://www.wbf.org/xml/B2MML-V0401", Schema.V0701: "http://www.mesa.org/xml/B2MML"}
NOUNS = {Schema.V0401: "ProductionSchedule", Schema.V0701: "OperationsSchedule"}
VERBS = ("Sync", "Process", "Change", "Cancel")
_FILES = {
    (Schema.V0401, "schedule"): ("b2mml-v0401", "B2MML-V0401-ProductionSchedule.xsd"),
    (Schema.V0401, "confirm"): ("b2mml-v0401", "B2MML-V0401-ConfirmBOD.xsd"),
    (Schema.V0701, "schedule"): ("b2mml-v0701", "B2MML-OperationsSchedule.xsd"),
    (Schema.V0701, "confirm"): ("b2mml-v0701", "B2MML-ConfirmBOD.xsd"),
    (Schema.V0401, "material"): ("b2mml-v0401", "B2MML-V0401-Material.xsd"),
    (Schema.V0701, "material"): ("b2mml-v0701", "B2MML-Material.xsd"),
}
ALSO_ACCEPTED = "Sync/Process MaterialDefinition, MaterialLot, MaterialInformation (V0401, V0701)"
"""The master-data messages, read by :mod:`ebr.integration.b2mml_material`."""


class MessageRefused(ValidationError):
    """A message that cannot be applied; ``element`` names where the problem is."""

    def __init__(self, message: str, *, element: str | None = None, schema: Schema | None = None) -> None:
        super().__init__(message)
        self.element = element
        self.schema = schema


@dataclass(frozen=True)
class MaterialLine:
    """One material requirement of an order's bill of materials."""

    segment: str
    material: str
    quantity: Decimal | None
    unit: str | None
    use: str
    lot: str | None = None
    description: str | None = None

    def as_json(self) -> dict[str, Any]:
        quantity = None if self.quantity is None else str(self.quantity)
        return {
            "segment": self.segment,
            "material": self.material,
            "quantity": quantity,
            "unit": self.unit,
            "use": self.use,
            "lot": self.lot,
            "description": self.description,
        }


@dataclass(frozen=True)
class OrderParameter:
    """A parameter the ERP sets for a segment of the order."""

    segment: str
    name: str
    value: str
    unit: str | None

    def as_json(self) -> dict[str, Any]:
        return {"segment": self.segment, "name": self.name, "value": self.value, "unit": self.unit}


@dataclass(frozen=True)
class OrderRequest:
    """A process order as the ERP sent it (a ProductionRequest or an OperationsRequest)."""

    order_id: str
    revision: str | None
    cancel: bool
    product: str | None
    quantity: Decimal | None
    unit: str | None
    start: dt.datetime | None
    end: dt.datetime | None
    priority: str | None
    description: str | None
    bom: tuple[MaterialLine, ...]
    parameters: tuple[OrderParameter, ...]


@dataclass(frozen=True)
class Document:
    """A validated inbound message: its envelope and its orders."""

    schema: Schema
    verb: str
    noun: str
    bod_id: str | None
    sender: str | None
    created: dt.datetime
    orders: tuple[OrderRequest, ...]
    application_area: Any  # the lxml element, echoed back in the ConfirmBOD


def schema_file(schema: Schema, kind: str) -> Path:
    """The XSD file shipped with the package for ``schema``'s ``kind`` (schedule or confirm)."""
    folder, name = _FILES[(schema, kind)]
    if folder == "b2mml-v0701":  # the recipes package ships the full V0701 set already
        return Path(str(resources.files("recipes").joinpath("schemas", "batchml-v0701", name)))
    return Path(str(resources.files("ebr.integration").joinpath("schemas", folder, name)))


@cache
def xsd(schema: Schema, kind: str) -> xmlschema.XMLSchema:
    """The schema compiled by xmlschema (once per process: V0701 takes about a second).

    Used for the wording of a refusal (see :func:`validate`), not to validate every message.
    """
    return xmlschema.XMLSchema(str(schema_file(schema, kind)))


# The B2MML schema files are ours; no network, no entities, all the same.
_SCHEMA_PARSER_OPTIONS = {"resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": False}
_compiled = threading.local()  # an lxml validator's error log is its own: one validator per thread


def compiled(schema: Schema, kind: str) -> etree.XMLSchema:
    """The schema compiled by libxml2 (once per process and thread; V0701 in about 60 ms)."""
    cached: dict[tuple[Schema, str], etree.XMLSchema] = _compiled.__dict__.setdefault("schemas", {})
    found = cached.get((schema, kind))
    if found is None:
        path = schema_file(schema, kind)
        found = etree.XMLSchema(etree.parse(str(path), etree.XMLParser(**_SCHEMA_PARSER_OPTIONS)))
        cached[(schema, kind)] = found
    return found


_PARSER_OPTIONS = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}


def safe_root(data: bytes) -> Any:
    """The root element of ``data``; refuses oversize input, DOCTYPEs and malformed XML."""
    if len(data) > MAX_BYTES:
        raise MessageRefused(f"the message is {len(data)} bytes; at most {MAX_BYTES} are accepted — split it")
    if not data.strip():
        raise MessageRefused("the message is empty; send a B2MML document")
    try:
        tree = etree.fromstring(data, etree.XMLParser(**_PARSER_OPTIONS)).getroottree()
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise MessageRefused(f"the message is not well-formed XML ({exc}); send a B2MML document") from None
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise MessageRefused("the message has a DOCTYPE; DTDs and entities are refused — send plain B2MML")
    return tree.getroot()


def identify(root: Any) -> tuple[Schema, str]:
    """(schema, verb) of a root element such as ``{…B2MML-V0401}SyncProductionSchedule``."""
    qname = etree.QName(root)
    for schema, namespace in NAMESPACES.items():
        if qname.namespace != namespace:
            continue
        noun = NOUNS[schema]
        for verb in VERBS:
            if qname.localname == verb + noun:
                return schema, verb
    accepted = ", ".join([f"{v}{NOUNS[s]} ({s.value})" for s in Schema for v in VERBS] + [ALSO_ACCEPTED])
    raise MessageRefused(
        f"unsupported message {qname.localname!r} in namespace {qname.namespace!r}; accepted: {accepted}"
    )


def validate(root: Any, schema: Schema, kind: str = "schedule") -> None:
    """Raise MessageRefused naming the first element that breaks the schema."""
    validator = compiled(schema, kind)
    if validator.validate(root):
        return
    _explain(root, schema, kind, validator.error_log)


def _explain(root: Any, schema: Schema, kind: str, log: Any) -> None:
    """Raise the refusal of a message libxml2 found invalid, in xmlschema's words where it agrees."""
    try:
        error = next(iter(xsd(schema, kind).iter_errors(root)), None)
    except (xmlschema.XMLSchemaException, ValueError, TypeError) as exc:  # the validator's own limits
        raise MessageRefused(f"the message could not be validated: {exc}", schema=schema) from None
    if error is not None:
        path, reason = error.path, (error.reason or str(error)).strip().rstrip(".")
    else:  # the validators disagree: libxml2's refusal stands
        first = next(iter(log.filter_from_errors()), None)
        path = _path(root, None if first is None else first.path)
        reason = "not valid" if first is None else str(first.message).strip().rstrip(".")
    raise MessageRefused(
        f"{schema.value} schema: {path}: {reason}; correct the element and send the message again",
        element=path,
        schema=schema,
    )


def _path(root: Any, xpath: str | None) -> str:
    """``/Root/Child/…`` (local names) of the element at libxml2's ``/*/*[2]/…`` path."""
    found = root.getroottree().xpath(xpath) if xpath else []
    element = found[0] if found and isinstance(found[0], etree._Element) else root
    names = [etree.QName(e).localname for e in (element, *element.iterancestors())]
    return "/" + "/".join(reversed(names))


def parse(data: bytes) -> Document:
    """Parse, validate and read a process-order message; raise MessageRefused for anything wrong."""
    return parse_root(safe_root(data))


def parse_root(root: Any) -> Document:
    """Validate and read the process orders of a message parsed by :func:`safe_root`."""
    schema, verb = identify(root)
    validate(root, schema)
    reader = _Reader(schema)
    area = reader.child(root, "ApplicationArea")
    created = reader.time(area, "CreationDateTime", "ApplicationArea/CreationDateTime")
    assert created is not None  # required by the schema
    sender = reader.child(area, "Sender")
    cancel = verb == "Cancel" or reader.action_code(root) == "Delete"
    orders = tuple(
        reader.order(request, cancel=cancel)
        for schedule in reader.children(reader.child(root, "DataArea"), NOUNS[schema])
        for request in reader.children(schedule, "ProductionRequest" if schema is Schema.V0401 else "OperationsRequest")
    )
    if not orders:
        raise MessageRefused(f"{NOUNS[schema]}: the message holds no order; nothing to do", schema=schema)
    return Document(
        schema=schema,
        verb=verb,
        noun=NOUNS[schema],
        bod_id=reader.text(area, "BODID"),
        sender=None if sender is None else reader.text(sender, "LogicalID"),
        created=created,
        orders=orders,
        application_area=area,
    )


class _Reader:
    """Reads the elements of one B2MML release (the namespaces and names differ a little)."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.ns = NAMESPACES[schema]

    def child(self, element: Any, name: str) -> Any:
        return None if element is None else element.find(f"{{{self.ns}}}{name}")

    def children(self, element: Any, name: str) -> list[Any]:
        return [] if element is None else list(element.findall(f"{{{self.ns}}}{name}"))

    def text(self, element: Any, name: str) -> str | None:
        found = self.child(element, name)
        value = None if found is None or found.text is None else found.text.strip()
        return value or None

    def description(self, element: Any) -> str | None:
        """The English (or language-less) description, else the first one."""
        found = [(d.get("languageID") or "", (d.text or "").strip()) for d in self.children(element, "Description")]
        found = [(lang, text) for lang, text in found if text]
        preferred = [text for lang, text in found if lang.lower() in ("", "en") or lang.lower().startswith("en-")]
        return (preferred or [text for _lang, text in found] or [None])[0]

    def time(self, element: Any, name: str, where: str) -> dt.datetime | None:
        raw = self.text(element, name)
        if raw is None:
            return None
        try:
            value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise MessageRefused(f"{where}: {raw!r} is not a date and time", element=where) from None
        if value.tzinfo is None:
            raise MessageRefused(
                f"{where}: {raw!r} has no time zone; send it in UTC (…Z) or with an offset", element=where
            )
        return value.astimezone(dt.UTC)

    def quantity(self, element: Any, where: str) -> tuple[Decimal | None, str | None]:
        """The first Quantity's QuantityString as a Decimal and its UnitOfMeasure (None when empty)."""
        found = self.child(element, "Quantity")
        if found is None:
            return None, None
        raw, unit = self.text(found, "QuantityString"), self.text(found, "UnitOfMeasure")
        if raw is None:
            return None, unit
        try:
            number = Decimal(raw)
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite() or number < 0:
            raise MessageRefused(
                f"{where}/Quantity/QuantityString: {raw!r} is not a quantity; send a decimal number such as 12.5",
                element=f"{where}/Quantity/QuantityString",
            )
        return number, unit

    def action_code(self, root: Any) -> str | None:
        verb = self.child(self.child(root, "DataArea"), "Sync")
        for criteria in self.children(verb, "ActionCriteria"):
            for expression in self.children(criteria, "ActionExpression"):
                if expression.get("actionCode"):
                    return str(expression.get("actionCode"))
        return None

    def order(self, request: Any, *, cancel: bool) -> OrderRequest:
        label = "ProductionRequest" if self.schema is Schema.V0401 else "OperationsRequest"
        order_id = self.text(request, "ID")
        if order_id is None or len(order_id) > 64:
            raise MessageRefused(f"{label}/ID: every order needs an ID of at most 64 characters", element=f"{label}/ID")
        where = f"{label}[ID={order_id}]"
        lines: list[MaterialLine] = []
        parameters: list[OrderParameter] = []
        nested = "SegmentRequirement" if self.schema is Schema.V0401 else "SegmentRequirementChild"
        pending = [(segment, f"{where}/SegmentRequirement") for segment in self.children(request, "SegmentRequirement")]
        while pending:
            segment, path = pending.pop(0)
            name = self.text(segment, "ID") or self.text(segment, "ProcessSegmentID") or "?"
            lines.extend(self._materials(segment, name, f"{path}[ID={name}]"))
            parameters.extend(self._parameters(segment, name))
            pending.extend((child, f"{path}[ID={name}]/{nested}") for child in self.children(segment, nested))
        produced = [line for line in lines if line.use == "produced"]
        if not cancel and not produced:
            raise MessageRefused(
                f"{where}: no produced material; give one MaterialRequirement with MaterialUse 'Produced'"
                + (" (or a MaterialProducedRequirement)" if self.schema is Schema.V0401 else ""),
                element=where,
            )
        if not cancel and (produced[0].quantity is None or produced[0].unit is None):
            raise MessageRefused(
                f"{where}: the produced material {produced[0].material} needs a Quantity with QuantityString "
                "and UnitOfMeasure (the batch size)",
                element=where,
            )
        version = self.text(request, "Version") if self.schema is Schema.V0701 else None
        return OrderRequest(
            order_id=order_id,
            revision=version,
            cancel=cancel,
            product=produced[0].material if produced else None,
            quantity=produced[0].quantity if produced else None,
            unit=produced[0].unit if produced else None,
            start=self.time(request, "StartTime", f"{where}/StartTime"),
            end=self.time(request, "EndTime", f"{where}/EndTime"),
            priority=self.text(request, "Priority"),
            description=self.description(request),
            bom=tuple(line for line in lines if line.use != "produced"),
            parameters=tuple(parameters),
        )

    def _materials(self, segment: Any, name: str, path: str) -> list[MaterialLine]:
        found: list[tuple[Any, str, str]] = []
        for element in self.children(segment, "MaterialRequirement"):
            use = (self.text(element, "MaterialUse") or "Consumed").lower()
            found.append((element, "MaterialRequirement", "produced" if use.startswith("produced") else "consumed"))
        if self.schema is Schema.V0401:
            found += [
                (e, "MaterialProducedRequirement", "produced")
                for e in self.children(segment, "MaterialProducedRequirement")
            ]
            found += [
                (e, "MaterialConsumedRequirement", "consumed")
                for e in self.children(segment, "MaterialConsumedRequirement")
            ]
        lines = []
        for element, tag, use in found:
            where = f"{path}/{tag}"
            material = self.text(element, "MaterialDefinitionID")
            if material is None or len(material) > 64:
                raise MessageRefused(
                    f"{where}/MaterialDefinitionID: every material needs an id of at most 64 characters",
                    element=f"{where}/MaterialDefinitionID",
                )
            quantity, unit = self.quantity(element, f"{where}[{material}]")
            lines.append(
                MaterialLine(
                    segment=name,
                    material=material,
                    quantity=quantity,
                    unit=unit,
                    use=use,
                    lot=self.text(element, "MaterialLotID"),
                    description=self.description(element),
                )
            )
        return lines

    def _parameters(self, segment: Any, name: str) -> list[OrderParameter]:
        if self.schema is Schema.V0401:
            elements = [self.child(p, "Parameter") for p in self.children(segment, "ProductionParameter")]
        else:
            elements = self.children(segment, "SegmentParameter")
        result = []
        for element in elements:
            if element is None or self.text(element, "ID") is None:
                continue
            value = self.child(element, "Value")
            result.append(
                OrderParameter(
                    segment=name,
                    name=str(self.text(element, "ID")),
                    value=self.text(value, "ValueString") or "",
                    unit=self.text(value, "UnitOfMeasure"),
                )
            )
        return result
