"""B2MML master-data messages for the tests, in the shapes ERPs send (V0401 and V0701)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy import func, select

from audit.models import AuditEvent
from ebr.bootstrap import Services
from ebr.integration.models import ErpLot, ErpMaterial, InboundMessage
from ebr.materials.models import Container, Lot, LotStatusChange, Material

NS = {"V0401": "http://www.wbf.org/xml/B2MML-V0401", "V0701": "http://www.mesa.org/xml/B2MML"}


def _value(schema: str, text: str, unit: str = "") -> str:
    # V0401 requires DataType and UnitOfMeasure (they may be empty); V0701 makes them optional.
    return (
        f"<Value><ValueString>{escape(text)}</ValueString><DataType>string</DataType>"
        f"<UnitOfMeasure>{escape(unit)}</UnitOfMeasure></Value>"
    )


def _quantity(quantity: str, unit: str) -> str:
    return (
        f"<Quantity><QuantityString>{escape(quantity)}</QuantityString><DataType>decimal</DataType>"
        f"<UnitOfMeasure>{escape(unit)}</UnitOfMeasure></Quantity>"
    )


def _envelope(schema: str, root: str, verb: str, body: str, bod: str, at: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><{root} xmlns="{NS[schema]}" releaseID="{schema}">'
        f"<ApplicationArea><Sender><LogicalID>ERP-PRD-100</LogicalID></Sender>"
        f"<CreationDateTime>{at}</CreationDateTime><BODID>{escape(bod)}</BODID></ApplicationArea>"
        f"<DataArea><{verb}/>{body}</DataArea></{root}>"
    ).encode()


def material_message(
    code: str,
    *,
    unit: str = "kg",
    name: str | None = None,
    bod: str,
    at: str = "2026-12-05T08:00:00Z",
    schema: str = "V0701",
    version: str | None = None,
    verb: str = "Sync",
    properties: Sequence[tuple[str, str]] = (),
) -> bytes:
    props = [("BaseUnitOfMeasure", unit), *properties] if unit else list(properties)
    body = f"<MaterialDefinition><ID>{escape(code)}</ID>"
    if version is not None and schema == "V0701":
        body += f"<Version>{version}</Version>"
    body += f'<Description languageID="en">{escape(name or code)}</Description>'
    body += "".join(
        f"<MaterialDefinitionProperty><ID>{escape(k)}</ID>{_value(schema, v)}</MaterialDefinitionProperty>"
        for k, v in props
    )
    body += "</MaterialDefinition>"
    return _envelope(schema, f"{verb}MaterialDefinition", verb, body, bod, at)


def lot_message(
    lot: str,
    *,
    material: str | None = "RM-X",
    status: str | None = "Released",
    quantity: str | None = "30",
    unit: str = "kg",
    subs: Sequence[tuple[str, str]] = (("S1", "30"),),
    bod: str,
    at: str = "2026-12-05T09:00:00Z",
    schema: str = "V0701",
    version: str | None = None,
    disposition: str | None = None,
    expiry: str | None = "2030-01-31",
    supplier: tuple[str, str] | None = ("ACME Chemicals", "AC-1"),
    extra: Sequence[tuple[str, str]] = (),
) -> bytes:
    body = f"<MaterialLot><ID>{escape(lot)}</ID>"
    if version is not None and schema == "V0701":
        body += f"<Version>{version}</Version>"
    if material is not None:
        body += f"<MaterialDefinitionID>{escape(material)}</MaterialDefinitionID>"
    if status is not None:
        body += f"<Status>{escape(status)}</Status>"
    if disposition is not None and schema == "V0701":
        body += f"<Disposition>{escape(disposition)}</Disposition>"
    props: list[tuple[str, str]] = [("ExpiryDate", expiry)] if expiry else []
    if supplier:
        props += [("SupplierID", supplier[0]), ("SupplierLotID", supplier[1])]
    props += list(extra)
    body += "".join(
        f"<MaterialLotProperty><ID>{escape(k)}</ID>{_value(schema, v)}</MaterialLotProperty>" for k, v in props
    )
    body += "".join(f"<MaterialSubLot><ID>{escape(sid)}</ID>{_quantity(q, unit)}</MaterialSubLot>" for sid, q in subs)
    if quantity is not None:
        body += _quantity(quantity, unit)
    body += "</MaterialLot>"
    return _envelope(schema, "SyncMaterialLot", "Sync", body, bod, at)


def stored(services: Services) -> dict[str, Any]:
    """What the master data, lots, the ERP's views, the inbound log and the trail hold."""
    with services.session_factory() as session:
        counts = {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Material, Lot, Container, LotStatusChange, ErpMaterial, ErpLot, InboundMessage, AuditEvent)
        }
        counts["lots"] = [(lot.lot_number, lot.status, lot.quantity) for lot in session.scalars(select(Lot))]
        counts["materials"] = [(m.code, m.name, m.unit) for m in session.scalars(select(Material))]
        return counts
