"""Applying master data from the ERP: materials, lots with their sublots, and inventory.

One message, one transaction (the caller's): every material and lot of the message is
applied with its audit events, or — on the first problem — :class:`MessageRefused`
naming the element rolls the whole message back.

The decisions (docs/integration.md, "Master data from the ERP"):

* **A lot's GMP status is QA's signed decision in the EBR, never the ERP's.** A new
  lot arrives in quarantine whatever the ERP says (the goods receipt of
  ``ebr.materials.warehouse`` creates it, with the EBR's own container barcodes and
  labels). An ERP status such as *Released*/*Unrestricted* is recorded as the ERP's
  view and shown, never applied. A *blocked/rejected/restricted/quarantine* status
  for a lot the EBR has released puts it on hold (quarantine, the safe direction),
  audited with the message id as the reason; QA decides again with a signature.
* **The ERP's quantity is recorded beside the EBR's** (which consumption, samples and
  returns change); the difference is reported (``ebr erp inventory``), never
  written over the EBR's quantity.
* A material's description, storage, label text and hazard fields follow the ERP;
  its base unit (and *potency applies*) does not change while a lot of it exists or
  an effective recipe uses it: the message is refused with the reason.
* An older message (a lower V0701 ``Version`` or an earlier ``CreationDateTime`` than
  the one applied) changes nothing: "ignored".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audit.chain import Entity
from audit.trail import AuditTrail
from ebr.core.clock import Clock
from ebr.core.errors import AlreadyExists, Conflict, EbrError, NotFound, ValidationError
from ebr.core.units import convert
from ebr.execution.rules import LotStatus
from ebr.integration.b2mml import MessageRefused
from ebr.integration.b2mml_material import Definition, LotInfo, MaterialDocument, plant_unit
from ebr.integration.models import ErpLot, ErpMaterial
from ebr.integration.orders import Recipes
from ebr.integration.services import ACTOR
from ebr.materials import master, warehouse
from ebr.materials.models import Lot, Material
from ebr.materials.services import MaterialService
from recipes.models import RecipeVersion

RELEASE_LIKE = frozenset({"released", "release", "unrestricted", "free", "approved", "available", "accepted"})
HOLD_LIKE = frozenset(
    {"blocked", "block", "rejected", "reject", "restricted", "quarantine", "quarantined", "hold", "onhold",
     "qualityinspection", "inspection", "qi", "expired", "notusable"}
)  # fmt: skip


def erp_kind(*statuses: str | None) -> str | None:
    """``"hold"`` or ``"release"`` when one of the ERP's status words means it, else None."""
    words = {"".join(s.lower().split()) for s in statuses if s}
    if words & HOLD_LIKE:
        return "hold"
    if words & RELEASE_LIKE:
        return "release"
    return None


def _older(doc: MaterialDocument, revision: str | None, row: ErpMaterial | ErpLot) -> str | None:
    if revision and row.revision and revision.isdigit() and row.revision.isdigit():
        if int(revision) < int(row.revision):
            return f"version {revision} is older than version {row.revision} already applied"
        if int(revision) > int(row.revision):
            return None
    if doc.created < row.issued_at:
        return f"sent at {doc.created:%Y-%m-%d %H:%M:%S} UTC, before the message already applied ({row.message_id})"
    return None


class MasterData:
    """Materials, lots and inventory from the ERP into the EBR's master and lots."""

    def __init__(self, *, audit: AuditTrail, clock: Clock, materials: MaterialService, recipes: Recipes) -> None:
        self.audit = audit
        self.clock = clock
        self.materials = materials
        self.recipes = recipes

    def apply(self, session: Session, doc: MaterialDocument, mid: str) -> list[str]:
        """Apply every definition, then every lot; one line each for the acknowledgement."""
        lines = [self._definition(session, doc, d, mid) for d in doc.definitions]
        return lines + [self._lot(session, doc, lot, mid) for lot in doc.lots]

    # -- materials -----------------------------------------------------------------

    def _definition(self, session: Session, doc: MaterialDocument, d: Definition, mid: str) -> str:
        row = session.get(ErpMaterial, d.code, with_for_update=True)
        if row is not None and (stale := _older(doc, d.version, row)):
            return f"material {d.code}: ignored, {stale}"
        fields = dict(d.fields)
        if d.name:
            fields["name"] = d.name
        existing = session.get(Material, d.code)
        try:
            if existing is None:
                if "unit" not in fields:
                    raise MessageRefused(
                        f"{d.where}: a new material needs its base unit; give a MaterialDefinitionProperty "
                        "with ID 'BaseUnitOfMeasure' and the unit as its value (kg, g, L, pcs …)",
                        element=d.where,
                    )
                self.materials.create_material(
                    session, actor=ACTOR, code=d.code, **({"name": d.code} | fields)
                )  # fmt: skip
                line = f"material {d.code}: created"
            else:
                changed = sorted(k for k, v in fields.items() if getattr(existing, k) != v)
                in_use = self._in_use(session, d.code) if master.MEANING & set(changed) else None
                master.update_material(
                    self.materials, session, actor=ACTOR, code=d.code, changes=fields,
                    reason=f"ERP message {mid}", in_use=in_use,
                )  # fmt: skip
                line = f"material {d.code}: " + (f"updated ({', '.join(changed)})" if changed else "unchanged")
        except AlreadyExists:
            raise _lost_race("material", d.code) from None
        except (ValidationError, NotFound) as exc:
            raise MessageRefused(f"{d.where}: {_one_line(exc)}", element=d.where) from None
        before = None if row is None else {"revision": row.revision, "message": row.message_id}
        if row is None:
            row = ErpMaterial(code=d.code)
            session.add(row)
        row.revision, row.issued_at, row.message_id, row.updated_at = d.version, doc.created, mid, self.clock.now()
        row.descriptions = [{"language": lang, "text": text} for lang, text in d.descriptions]
        row.properties = [p.as_json() for p in d.properties]
        session.flush()
        self.audit.record(
            session, actor=ACTOR, action="erp.material.received", entity=Entity("material", d.code), before=before,
            after={"revision": d.version, "message": mid, "descriptions": row.descriptions,
                   "properties": row.properties, "result": line},
        )  # fmt: skip
        return line

    def _in_use(self, session: Session, code: str) -> str | None:
        """Why material ``code`` is in use (lots of it, an effective recipe), or None."""
        lots = session.scalar(select(func.count()).select_from(Lot).where(Lot.material_code == code)) or 0
        if lots:
            return f"{lots} lot(s) of it are held in the EBR"
        names = session.scalars(select(RecipeVersion.name).distinct().order_by(RecipeVersion.name)).all()
        for name in names:
            try:
                version, recipe = self.recipes.get_effective(session, name)
            except EbrError:
                continue
            if recipe.bill_of_materials.get(code) is not None or recipe.product.code == code:
                return f"effective recipe {name} version {version.version} uses it"
        return None

    # -- lots ----------------------------------------------------------------------

    def _lot(self, session: Session, doc: MaterialDocument, info: LotInfo, mid: str) -> str:
        row = session.get(ErpLot, info.lot_number, with_for_update=True)
        if row is not None and (stale := _older(doc, info.version, row)):
            return f"lot {info.lot_number}: ignored, {stale}"
        lot = session.scalars(select(Lot).where(Lot.lot_number == info.lot_number).with_for_update()).first()
        code = info.material or (lot.material_code if lot is not None else None) or (row.material if row else None)
        if code is None:
            where = f"{info.where}/MaterialDefinitionID"
            raise MessageRefused(f"{where}: a new lot needs its material", element=where)
        material = session.get(Material, code)
        if material is None:
            where = f"{info.where}/MaterialDefinitionID"
            raise MessageRefused(
                f"{where}: material {code} is not in the material master; send its MaterialDefinition first",
                element=where,
            )
        if lot is not None and lot.material_code != code:
            raise MessageRefused(
                f"{info.where}/MaterialDefinitionID: lot {lot.lot_number} is of {lot.material_code} in the EBR, "
                f"not {code}; correct the lot in the ERP",
                element=f"{info.where}/MaterialDefinitionID",
            )
        quantity = self._quantity(info.quantity, info.unit, material, info.where)
        subs = [self._quantity(s.quantity, s.unit, material, s.where) for s in info.sublots]
        if quantity is None and subs and None not in subs:
            quantity = sum((q for q in subs if q is not None), Decimal(0))
        kind = erp_kind(info.status, info.disposition)
        if lot is None:
            lot, line = self._receive(session, info, material, quantity, subs)
            barcodes: list[str | None] = [warehouse.barcode_of(lot.lot_number, i) for i in range(1, len(subs) + 1)]
        else:
            # Only a change of the ERP's word holds a lot: an ERP that still reports "QI" after
            # QA released the lot in the EBR has not learnt of the release, it has not blocked it.
            previous = None if row is None else erp_kind(row.status, row.disposition)
            line = self._update(session, lot, kind if previous != "hold" else None, info, mid)
            known: dict[str, str | None] = {s["id"]: s.get("container") for s in (row.sublots if row else [])}
            barcodes = [known.get(s.sublot_id) for s in info.sublots]
        if kind == "release" and lot.status != LotStatus.RELEASED.value:
            line += f"; the ERP's status {info.status or info.disposition!r} is recorded, not applied: QA releases lots"
        before = None if row is None else _erp_view(row)
        if row is None:
            row = ErpLot(lot_number=info.lot_number, lot_id=lot.id)
            session.add(row)
        row.material, row.revision, row.issued_at, row.message_id = code, info.version, doc.created, mid
        row.status, row.disposition, row.quantity, row.unit = info.status, info.disposition, quantity, material.unit
        row.expires_on = info.expires_on or row.expires_on
        row.sublots = [
            {"id": s.sublot_id, "container": barcode, "quantity": None if q is None else str(q), "status": s.status}
            for s, q, barcode in zip(info.sublots, subs, barcodes, strict=True)
        ]
        row.properties = [p.as_json() for p in info.properties]
        row.updated_at = self.clock.now()
        session.flush()
        self.audit.record(
            session, actor=ACTOR, action="erp.lot.received" if before is None else "erp.lot.changed",
            entity=Entity("lot", info.lot_number), before=before,
            after=_erp_view(row) | {"message": mid, "ebr_status": lot.status, "ebr_quantity": lot.quantity},
        )  # fmt: skip
        return line

    def _quantity(self, value: Decimal | None, unit: str | None, material: Material, where: str) -> Decimal | None:
        if value is None:
            return None
        if unit is None:
            raise MessageRefused(f"{where}/Quantity/UnitOfMeasure: give the quantity's unit", element=where)
        try:
            return convert(value, plant_unit(unit, f"{where}/Quantity/UnitOfMeasure"), material.unit)
        except ValidationError as exc:
            raise MessageRefused(
                f"{where}/Quantity: {exc.message} (material {material.code} is kept in {material.unit})",
                element=f"{where}/Quantity",
            ) from None

    def _receive(
        self, session: Session, info: LotInfo, material: Material, quantity: Decimal | None, subs: list[Decimal | None]
    ) -> tuple[Lot, str]:
        """A lot new to the EBR: the goods receipt of ``ebr.materials`` (quarantine, our barcodes)."""
        if info.sublots and None in subs:
            missing = info.sublots[subs.index(None)].where
            raise MessageRefused(f"{missing}/Quantity: every sublot needs its quantity", element=missing)
        containers = [q for q in subs if q is not None] or ([quantity] if quantity is not None else [])
        if not containers:
            raise MessageRefused(f"{info.where}/Quantity: a new lot needs its quantity", element=info.where)
        if quantity is not None and sum(containers, Decimal(0)) != quantity:
            raise MessageRefused(
                f"{info.where}: the sublots hold {sum(containers, Decimal(0))} {material.unit} but the lot is "
                f"{quantity} {material.unit}; send matching quantities",
                element=info.where,
            )
        if info.expires_on is None:
            raise MessageRefused(
                f"{info.where}: a new lot needs its expiry; give a MaterialLotProperty with ID 'ExpiryDate' "
                "(YYYY-MM-DD)",
                element=info.where,
            )
        try:
            lot = warehouse.receive_goods(
                self.materials, session, actor=ACTOR, material=material.code, lot_number=info.lot_number,
                supplier=info.supplier or "", supplier_lot=info.supplier_lot or "", containers=containers,
                expires_on=info.expires_on, retest_on=info.retest_on, received_on=info.received_on,
                potency=info.potency,
            )  # fmt: skip
        except AlreadyExists:
            raise _lost_race("lot", info.lot_number) from None
        except (ValidationError, NotFound) as exc:
            raise MessageRefused(
                f"{info.where}: {_one_line(exc)} (lot properties: SupplierID, SupplierLotID, ExpiryDate, RetestDate, "
                "ReceiptDate, Potency)",
                element=info.where,
            ) from None
        count = len(containers)
        return lot, f"lot {lot.lot_number}: received in quarantine, {count} container(s) {lot.lot_number}-001…"

    def _update(self, session: Session, lot: Lot, kind: str | None, info: LotInfo, mid: str) -> str:
        """A lot the EBR holds: record the ERP's view; a hold status on a released lot holds it."""
        if kind == "hold" and lot.status == LotStatus.RELEASED.value:
            said = " / ".join(s for s in (info.status, info.disposition) if s)
            reason = f"ERP message {mid} reports the lot {said}: on hold until QA decides"
            warehouse.hold(self.materials, session, actor=ACTOR, lot_number=lot.lot_number, reason=reason)
            return f"lot {lot.lot_number}: put on hold (quarantine), the ERP reports it {said}; QA decides"
        return f"lot {lot.lot_number}: ERP view recorded (EBR status {lot.status}, EBR quantity {lot.quantity})"


def _lost_race(kind: str, key: str) -> Conflict:
    """The material or lot this transaction found missing was created meanwhile by a concurrent message.

    Under READ COMMITTED the lookup and the creation's own uniqueness check are two statements:
    a winner that commits between them makes the creation refuse a code it did not see. That is
    no fault of the message: the caller (``Wiring.receive``) rolls back and applies it again,
    and then it finds the winner's record and updates it, as if it had come second.
    """
    return Conflict(f"{kind} {key} was created by a concurrent message meanwhile; apply the message again")


def _one_line(exc: EbrError) -> str:
    if isinstance(exc, ValidationError) and exc.problems:
        return f"{exc.summary}: {'; '.join(exc.problems)}"
    return exc.message


def _erp_view(row: ErpLot) -> dict[str, Any]:
    return {
        "status": row.status,
        "disposition": row.disposition,
        "quantity": row.quantity,
        "unit": row.unit,
        "expires_on": None if row.expires_on is None else row.expires_on.isoformat(),
        "sublots": row.sublots,
    }


@dataclass(frozen=True)
class InventoryLine:
    """One lot as the EBR and the ERP see it."""

    lot_number: str
    material: str
    unit: str
    ebr_status: str
    erp_status: str | None
    ebr_quantity: Decimal
    erp_quantity: Decimal | None
    updated_at: dt.datetime

    @property
    def difference(self) -> Decimal | None:
        """ERP − EBR (None when the ERP sent no quantity)."""
        return None if self.erp_quantity is None else self.erp_quantity - self.ebr_quantity


def inventory(session: Session, *, differences_only: bool = False) -> list[InventoryLine]:
    """Every lot the ERP reported, with both quantities and statuses (by lot number)."""
    rows = session.execute(select(ErpLot, Lot).join(Lot, Lot.id == ErpLot.lot_id).order_by(ErpLot.lot_number))
    lines = [
        InventoryLine(
            lot_number=erp.lot_number,
            material=erp.material,
            unit=erp.unit,
            ebr_status=lot.status,
            erp_status=" / ".join(s for s in (erp.status, erp.disposition) if s) or None,
            ebr_quantity=lot.quantity,
            erp_quantity=erp.quantity,
            updated_at=erp.updated_at,
        )
        for erp, lot in rows
    ]
    return [line for line in lines if line.difference] if differences_only else lines
