"""Reading B2MML master data: material definitions, lots and sublots (V0401 and V0701).

Accepted: ``Sync``/``Process`` of ``MaterialDefinition``, ``MaterialLot`` and
``MaterialInformation`` (which carries definitions and lots together), in both
releases. The message is parsed with :func:`ebr.integration.b2mml.safe_root` (no
DOCTYPE, no entities, no network), validated against the release's
``Material`` schema, then read into frozen dataclasses. What B2MML leaves to the
plant — the base unit, expiry, supplier — travels as properties whose ``ID`` is
one of the names below (case and ``_``/``-``/space ignored, so SAP's
``BASE_UOM`` and ``BaseUnitOfMeasure`` are the same). Anything wrong is a
:class:`~ebr.integration.b2mml.MessageRefused` naming the element; nothing here
touches the database.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree

from ebr.core import units
from ebr.core.errors import ValidationError
from ebr.integration.b2mml import NAMESPACES, Document, MessageRefused, Schema, parse_root, safe_root, validate
from ebr.integration.b2mml import _Reader as Reader

NOUNS = ("MaterialDefinition", "MaterialLot", "MaterialInformation")
VERBS = ("Sync", "Process")
MAX_CODE = 64
MAX_LOT = 60
MAX_NAME = 200

# Property IDs, normalised (lower case, no separators) → what they are.
DEFINITION_PROPERTIES = {
    "baseunitofmeasure": "unit", "baseunit": "unit", "baseuom": "unit", "unitofmeasure": "unit", "uom": "unit",
    "storageconditions": "storage", "storage": "storage",
    "retestinterval": "retest_interval_days", "retestintervaldays": "retest_interval_days",
    "hazardous": "hazardous", "allergen": "allergen", "hazardnote": "hazard_note",
    "potencyapplies": "potency_applies", "labeltext": "label_text",
}  # fmt: skip
LOT_PROPERTIES = {
    "expirydate": "expires_on", "expirationdate": "expires_on", "shelflifeexpirationdate": "expires_on",
    "sled": "expires_on", "bestbefore": "expires_on",
    "retestdate": "retest_on", "nextinspectiondate": "retest_on",
    "receiptdate": "received_on", "goodsreceiptdate": "received_on",
    "supplier": "supplier", "supplierid": "supplier", "vendor": "supplier", "vendorid": "supplier",
    "supplierlot": "supplier_lot", "supplierlotid": "supplier_lot", "vendorbatch": "supplier_lot",
    "supplierbatch": "supplier_lot", "potency": "potency",
}  # fmt: skip
# What ERPs write for units (SAP's internal codes, UN/ECE Recommendation 20) → the plant's symbols.
ERP_UNITS = {
    "KG": "kg", "KGM": "kg", "G": "g", "GRM": "g", "MG": "mg", "MGM": "mg", "TO": "t", "TNE": "t",
    "L": "L", "LTR": "L", "ML": "mL", "MLT": "mL", "M3": "m³", "MTQ": "m³",
    "ST": "pcs", "EA": "pcs", "PC": "pcs", "PCE": "pcs", "H87": "pcs", "C62": "pcs",
}  # fmt: skip
TRUE = frozenset({"true", "1", "yes", "y", "x"})
FALSE = frozenset({"false", "0", "no", "n", ""})


@dataclass(frozen=True)
class Property:
    """A property as the ERP sent it (kept as the ERP's view)."""

    id: str
    value: str | None
    unit: str | None

    def as_json(self) -> dict[str, str | None]:
        return {"id": self.id, "value": self.value, "unit": self.unit}


@dataclass(frozen=True)
class Definition:
    """A ``MaterialDefinition``: the master fields the EBR keeps, and everything as sent."""

    code: str
    version: str | None
    name: str | None
    descriptions: tuple[tuple[str, str], ...]  # (languageID or "", text)
    fields: tuple[tuple[str, Any], ...]  # master field → value, only those the message gives
    properties: tuple[Property, ...]
    where: str


@dataclass(frozen=True)
class SubLot:
    """A ``MaterialSubLot``: a container of the lot."""

    sublot_id: str
    quantity: Decimal | None
    unit: str | None
    status: str | None
    where: str


@dataclass(frozen=True)
class LotInfo:
    """A ``MaterialLot``: the ERP's lot, its status, quantity (inventory) and sublots."""

    lot_number: str
    version: str | None
    material: str | None
    status: str | None
    disposition: str | None
    quantity: Decimal | None
    unit: str | None
    expires_on: dt.date | None
    retest_on: dt.date | None
    received_on: dt.date | None
    supplier: str | None
    supplier_lot: str | None
    potency: Decimal | None
    sublots: tuple[SubLot, ...]
    properties: tuple[Property, ...]
    where: str


@dataclass(frozen=True)
class MaterialDocument:
    """A validated master-data message."""

    schema: Schema
    verb: str
    noun: str
    bod_id: str | None
    sender: str | None
    created: dt.datetime
    definitions: tuple[Definition, ...]
    lots: tuple[LotInfo, ...]
    application_area: Any

    @property
    def keys(self) -> list[str]:
        """What the message is about: material codes and lot numbers."""
        return [d.code for d in self.definitions] + [lot.lot_number for lot in self.lots]


def plant_unit(raw: str, where: str) -> str:
    """The plant's symbol for an ERP unit (``KGM`` → ``kg``); MessageRefused naming ``where`` if unknown."""
    symbol = ERP_UNITS.get(raw.strip().upper(), raw.strip())
    try:
        return units.check(symbol)
    except ValidationError as exc:
        raise MessageRefused(f"{where}: {exc.message}", element=where) from None


def material_root(root: Any) -> tuple[Schema, str, str] | None:
    """(schema, verb, noun) when ``root`` is a master-data message, else None."""
    qname = etree.QName(root)
    for schema, namespace in NAMESPACES.items():
        if qname.namespace == namespace:
            for verb in VERBS:
                for noun in NOUNS:
                    if qname.localname == verb + noun:
                        return schema, verb, noun
    return None


def read(data: bytes) -> Document | MaterialDocument:
    """Any accepted inbound B2MML message: process orders or master data; MessageRefused otherwise."""
    root = safe_root(data)
    found = material_root(root)
    if found is None:
        return parse_root(root)
    schema, verb, noun = found
    validate(root, schema, "material")
    reader = _MaterialReader(schema)
    area = reader.child(root, "ApplicationArea")
    created = reader.time(area, "CreationDateTime", "ApplicationArea/CreationDateTime")
    assert created is not None  # required by the schema
    if reader.action_code(root, verb) == "Delete":
        raise MessageRefused(
            f"{verb}{noun}: the EBR does not delete materials or lots on the ERP's word; QA rejects a lot "
            "in the EBR — send the lot's status instead",
            element=f"DataArea/{verb}/ActionCriteria",
            schema=schema,
        )
    data_area = reader.child(root, "DataArea")
    holders = reader.children(data_area, "MaterialInformation") if noun == "MaterialInformation" else [data_area]
    definitions = tuple(reader.definition(e) for h in holders for e in reader.children(h, "MaterialDefinition"))
    lots = tuple(reader.lot(e) for h in holders for e in reader.children(h, "MaterialLot"))
    if noun == "MaterialInformation" and any(reader.children(h, "MaterialSubLot") for h in holders):
        raise MessageRefused(
            "MaterialInformation/MaterialSubLot: send sublots inside their MaterialLot", schema=schema,
            element="MaterialInformation/MaterialSubLot",
        )  # fmt: skip
    if not definitions and not lots:
        raise MessageRefused(f"{verb}{noun}: the message holds no material and no lot; nothing to do", schema=schema)
    sender = reader.child(area, "Sender")
    return MaterialDocument(
        schema=schema,
        verb=verb,
        noun=noun,
        bod_id=reader.text(area, "BODID"),
        sender=None if sender is None else reader.text(sender, "LogicalID"),
        created=created,
        definitions=definitions,
        lots=lots,
        application_area=area,
    )


def _key(property_id: str) -> str:
    return re.sub(r"[\s_\-.]", "", property_id).lower()


class _MaterialReader(Reader):
    def action_code(self, root: Any, verb: str = "Sync") -> str | None:
        verb_element = self.child(self.child(root, "DataArea"), verb)
        for criteria in self.children(verb_element, "ActionCriteria"):
            for expression in self.children(criteria, "ActionExpression"):
                if expression.get("actionCode"):
                    return str(expression.get("actionCode"))
        return None

    def identifier(self, element: Any, name: str, where: str, limit: int) -> str:
        value = self.text(element, name)
        if value is None or len(value) > limit:
            raise MessageRefused(f"{where}/{name}: give an ID of 1 to {limit} characters", element=f"{where}/{name}")
        return value

    def properties(self, element: Any, tag: str) -> tuple[Property, ...]:
        found = []
        for prop in self.children(element, tag):
            value = self.child(prop, "Value")
            found.append(
                Property(str(self.text(prop, "ID")), self.text(value, "ValueString"), self.text(value, "UnitOfMeasure"))
            )
        return tuple(found)

    def definition(self, element: Any) -> Definition:
        code = self.identifier(element, "ID", "MaterialDefinition", MAX_CODE)
        where = f"MaterialDefinition[ID={code}]"
        descriptions = tuple(
            (d.get("languageID") or "", (d.text or "").strip())
            for d in self.children(element, "Description")
            if (d.text or "").strip()
        )
        name = self.description(element)
        if name is not None and len(name) > MAX_NAME:
            raise MessageRefused(f"{where}/Description: at most {MAX_NAME} characters", element=f"{where}/Description")
        props = self.properties(element, "MaterialDefinitionProperty")
        fields: dict[str, Any] = {}
        for prop in props:
            field = DEFINITION_PROPERTIES.get(_key(prop.id))
            if field is not None and field not in fields:
                fields[field] = _definition_value(field, prop, f"{where}/MaterialDefinitionProperty[ID={prop.id}]")
        fields = {k: v for k, v in fields.items() if v is not None}
        return Definition(
            code=code,
            version=self.text(element, "Version") if self.schema is Schema.V0701 else None,
            name=name,
            descriptions=descriptions,
            fields=tuple(sorted(fields.items())),
            properties=props,
            where=where,
        )

    def lot(self, element: Any) -> LotInfo:
        number = self.identifier(element, "ID", "MaterialLot", MAX_LOT)
        where = f"MaterialLot[ID={number}]"
        material = self.text(element, "MaterialDefinitionID")
        if material is not None and len(material) > MAX_CODE:
            raise MessageRefused(f"{where}/MaterialDefinitionID: at most {MAX_CODE} characters", element=where)
        quantity, unit = self.quantity(element, where)
        prop_tag = "MaterialLotProperty"
        props = self.properties(element, prop_tag)
        values: dict[str, Any] = {}
        for prop in props:
            field = LOT_PROPERTIES.get(_key(prop.id))
            if field is not None and field not in values and prop.value is not None:
                values[field] = _lot_value(field, prop, f"{where}/{prop_tag}[ID={prop.id}]")
        sub_tag = "MaterialSubLot"
        nested = "MaterialSubLot" if self.schema is Schema.V0401 else "MaterialSubLotChild"
        sublots = []
        for sub in self.children(element, sub_tag):
            sub_id = self.identifier(sub, "ID", f"{where}/MaterialSubLot", MAX_CODE)
            sub_where = f"{where}/MaterialSubLot[ID={sub_id}]"
            if self.children(sub, nested):
                raise MessageRefused(
                    f"{sub_where}/{nested}: nested sublots are not read; send each container as a MaterialSubLot "
                    "of the lot",
                    element=f"{sub_where}/{nested}",
                )
            sub_quantity, sub_unit = self.quantity(sub, sub_where)
            sublots.append(SubLot(sub_id, sub_quantity, sub_unit, self.text(sub, "Status"), sub_where))
        if len({s.sublot_id for s in sublots}) != len(sublots):
            raise MessageRefused(f"{where}/MaterialSubLot: every sublot ID must be unique in its lot", element=where)
        return LotInfo(
            lot_number=number,
            version=self.text(element, "Version") if self.schema is Schema.V0701 else None,
            material=material,
            status=self.text(element, "Status"),
            disposition=self.text(element, "Disposition") if self.schema is Schema.V0701 else None,
            quantity=quantity,
            unit=unit,
            expires_on=values.get("expires_on"),
            retest_on=values.get("retest_on"),
            received_on=values.get("received_on"),
            supplier=values.get("supplier"),
            supplier_lot=values.get("supplier_lot"),
            potency=values.get("potency"),
            sublots=tuple(sublots),
            properties=props,
            where=where,
        )


def _flag(raw: str, where: str) -> bool:
    text = raw.strip().lower()
    if text in TRUE or text in FALSE:
        return text in TRUE
    raise MessageRefused(f"{where}: {raw!r} is not a yes/no value; send true or false", element=where)


def _definition_value(field: str, prop: Property, where: str) -> Any:
    raw = prop.value
    if field == "unit":
        symbol = raw or prop.unit
        return None if symbol is None else plant_unit(symbol, where)
    if raw is None:
        return None
    if field in ("hazardous", "allergen", "potency_applies"):
        return _flag(raw, where)
    if field == "retest_interval_days":
        unit = (prop.unit or "d").strip().lower()
        if not raw.isdigit() or unit not in ("d", "day", "days", "dag", "tag", "tage"):
            raise MessageRefused(f"{where}: {raw!r} {prop.unit or ''}: send a whole number of days", element=where)
        return int(raw)
    if len(raw) > MAX_NAME and field == "storage":
        raise MessageRefused(f"{where}: at most {MAX_NAME} characters", element=where)
    return raw


def _lot_value(field: str, prop: Property, where: str) -> Any:
    raw = str(prop.value)
    if field in ("expires_on", "retest_on", "received_on"):
        try:
            if "T" in raw:
                moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
                if moment.tzinfo is None:
                    raise ValueError
                return moment.astimezone(dt.UTC).date()
            return dt.date.fromisoformat(raw)
        except ValueError:
            raise MessageRefused(
                f"{where}: {raw!r} is not a date; send YYYY-MM-DD (or a time with its zone)", element=where
            ) from None
    if field == "potency":
        try:
            number = Decimal(raw)
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite():
            raise MessageRefused(f"{where}: {raw!r} is not a number; send the potency in % such as 99.2", element=where)
        return number
    if len(raw) > MAX_CODE:
        raise MessageRefused(f"{where}: at most {MAX_CODE} characters", element=where)
    return raw
