"""Materials, lots and containers: register, receive, change status (signed), consume, trace.

Every change is audited in the caller's transaction. A lot's status is changed by
QA with a signature; consumption decrements the container and the lot and records
the genealogy link to the consuming batch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.chain import Entity
from audit.trail import AuditTrail
from ebr.core import units
from ebr.core.clock import Clock
from ebr.core.errors import AlreadyExists, NotFound, ValidationError
from ebr.core.ids import new_id
from ebr.execution.rules import LotStatus, check_lot_transition, parse_decimal
from ebr.materials.models import Container, Lot, LotStatusChange, Material, MaterialConsumption
from signatures.signing import require_own_signature

OUTPUT_SHELF_LIFE_DAYS = 730
"""Provisional expiry of an output lot; QA sets the real one when releasing it."""
MAX_RETEST_DAYS = 3660


class Signer(Protocol):
    """The signing ceremony (``signatures.signing.SigningService.sign``)."""

    def sign(
        self,
        session: Session,
        *,
        subject: Entity,
        content: Mapping[str, Any],
        meaning: str,
        reason: str | None,
        user_id: str,
        password: str,
        not_by: Mapping[str, str] | None = None,
    ) -> Any: ...


@dataclass(frozen=True)
class Credentials:
    """A signer's user id and password, and the meaning they sign with."""

    user_id: str
    password: str
    meaning: str = "performed"


def material_json(material: Material) -> dict[str, Any]:
    """The audited view of a material master record."""
    return {
        "name": material.name,
        "unit": material.unit,
        "hazardous": material.hazardous,
        "allergen": material.allergen,
        "hazard_note": material.hazard_note,
        "storage": material.storage,
        "retest_interval_days": material.retest_interval_days,
        "potency_applies": material.potency_applies,
        "label_text": material.label_text,
    }


def lot_json(lot: Lot) -> dict[str, Any]:
    """The audited (and API) view of a lot."""
    return {
        "id": lot.id,
        "lot_number": lot.lot_number,
        "material": lot.material_code,
        "status": lot.status,
        "expires_on": lot.expires_on.isoformat(),
        "potency": lot.potency,
        "quantity": lot.quantity,
        "unit": lot.unit,
        "produced_by": lot.produced_by,
        "supplier": lot.supplier,
        "supplier_lot": lot.supplier_lot,
        "received_on": None if lot.received_on is None else lot.received_on.isoformat(),
        "retest_on": None if lot.retest_on is None else lot.retest_on.isoformat(),
    }


class MaterialService:
    """The material master, lots, containers and genealogy."""

    def __init__(self, *, audit: AuditTrail, clock: Clock, signer: Signer) -> None:
        self.audit = audit
        self.clock = clock
        self.signer = signer

    def create_material(
        self,
        session: Session,
        *,
        actor: str,
        code: str,
        name: str,
        unit: str,
        hazardous: bool = False,
        allergen: bool = False,
        hazard_note: str = "",
        storage: str = "",
        retest_interval_days: int | None = None,
        potency_applies: bool = False,
        label_text: str = "",
    ) -> Material:
        """Add a material to the master; raises AlreadyExists (code taken) or ValidationError (a wrong field)."""
        problems = [f"{k} is required" for k, v in (("code", code), ("name", name), ("unit", unit)) if not v.strip()]
        if retest_interval_days is not None and not 0 < retest_interval_days <= MAX_RETEST_DAYS:
            problems.append(f"retest interval {retest_interval_days} days: give 1 to {MAX_RETEST_DAYS} days or none")
        if problems:
            raise ValidationError("the material cannot be created", problems)
        units.check(unit)
        if session.get(Material, code) is not None:
            raise AlreadyExists(f"material {code} already exists; choose another code")
        material = Material(
            code=code,
            name=name,
            unit=unit,
            hazardous=hazardous,
            allergen=allergen,
            hazard_note=hazard_note,
            storage=storage,
            retest_interval_days=retest_interval_days,
            potency_applies=potency_applies,
            label_text=label_text,
            created_at=self.clock.now(),
            created_by=actor,
        )
        session.add(material)
        after = material_json(material)
        self.audit.record(session, actor=actor, action="material.created", entity=Entity("material", code), after=after)
        return material

    def material(self, session: Session, code: str) -> Material:
        """The material ``code``; raises NotFound."""
        found = session.get(Material, code)
        if found is None:
            raise NotFound(f"no material {code!r}: create it in the material master first")
        return found

    def receive_lot(
        self,
        session: Session,
        *,
        actor: str,
        material: str,
        lot_number: str,
        quantity: Decimal | str,
        expires_on: dt.date,
        potency: Decimal | str | None = None,
        containers: Mapping[str, Decimal | str] | None = None,
        produced_by: str | None = None,
        supplier: str | None = None,
        supplier_lot: str | None = None,
        received_on: dt.date | None = None,
        retest_on: dt.date | None = None,
    ) -> Lot:
        """Receive a lot in quarantine, split over ``containers`` (barcode → quantity).

        Raises AlreadyExists when the lot number is taken, ValidationError for a wrong quantity or a taken barcode.
        """
        mat = self.material(session, material)
        total = parse_decimal("quantity", quantity)
        if total <= 0:
            raise ValidationError(f"quantity {total} must be greater than zero")
        if session.scalars(select(Lot).where(Lot.lot_number == lot_number)).first() is not None:
            raise AlreadyExists(f"lot {lot_number} already exists; lot numbers are unique")
        parts = {k: parse_decimal(f"container {k}", v) for k, v in (containers or {lot_number: total}).items()}
        if sum(parts.values()) != total:
            raise ValidationError(f"the containers hold {sum(parts.values())} {mat.unit} but the lot is {total}")
        pot = None if potency is None else parse_decimal("potency", potency)
        now = self.clock.now()
        lot = Lot(
            id=new_id(),
            lot_number=lot_number,
            material_code=mat.code,
            status=LotStatus.QUARANTINE.value,
            expires_on=expires_on,
            potency=pot,
            quantity=total,
            unit=mat.unit,
            produced_by=produced_by,
            supplier=supplier,
            supplier_lot=supplier_lot,
            received_on=received_on,
            retest_on=retest_on,
            created_at=now,
            created_by=actor,
        )
        session.add(lot)
        taken = set(session.scalars(select(Container.barcode).where(Container.barcode.in_(list(parts)))))
        if taken:
            raise ValidationError(f"container {min(taken)} already exists; barcodes are unique")
        for barcode, qty in parts.items():
            session.add(
                Container(
                    barcode=barcode,
                    lot_id=lot.id,
                    quantity=qty,
                    received_quantity=qty,
                    unit=mat.unit,
                    created_at=now,
                )
            )
        session.flush()
        after = lot_json(lot) | {"containers": parts}
        self.audit.record(session, actor=actor, action="lot.received", entity=Entity("lot", lot_number), after=after)
        return lot

    def lot(self, session: Session, lot_number: str) -> Lot:
        """The lot called ``lot_number``; raises NotFound."""
        found = session.scalars(select(Lot).where(Lot.lot_number == lot_number)).first()
        if found is None:
            raise NotFound(f"no lot {lot_number!r}; check the label")
        return found

    def lots(self, session: Session, *, material: str | None = None) -> list[Lot]:
        query = select(Lot).order_by(Lot.lot_number)
        if material:
            query = query.where(Lot.material_code == material)
        return list(session.scalars(query))

    def containers(self, session: Session, lot: Lot) -> list[Container]:
        return list(session.scalars(select(Container).where(Container.lot_id == lot.id).order_by(Container.barcode)))

    def change_status(
        self, session: Session, *, actor: str, lot_number: str, status: str, reason: str, signer: Credentials
    ) -> Lot:
        """QA changes a lot's status with their own signature (meaning ``approved``) and a reason.

        Raises NotPermitted when the signer is not ``actor`` (nobody signs in another's session).
        """
        require_own_signature(actor, signer.user_id)
        lot = self.lot(session, lot_number)
        if not reason.strip():
            raise ValidationError("a lot status change needs a reason")
        new = check_lot_transition(lot.status, status)
        content = lot_json(lot) | {"new_status": new.value, "reason": reason}
        # QA signs a release as "released", a rejection as "rejected", anything else as "approved".
        meaning = {LotStatus.RELEASED: "released", LotStatus.REJECTED: "rejected"}.get(new, "approved")
        record = self.signer.sign(
            session,
            subject=Entity("lot", lot.lot_number),
            content=content,
            meaning=meaning,
            reason=reason,
            user_id=signer.user_id,
            password=signer.password,
        )
        self._set_status(session, lot, new, actor=actor, reason=reason, signature_id=record.id)
        return lot

    def expire_lots(self, session: Session, *, actor: str) -> list[str]:
        """Mark EXPIRED every released lot whose expiry date has passed (the scheduler's job).

        No signature: the expiry date itself is the decision, taken when QA released the
        lot; the change is recorded with the system actor and the reason. Returns the lots.
        """
        today = self.clock.now().date()
        due = session.scalars(
            select(Lot).where(Lot.status == LotStatus.RELEASED.value, Lot.expires_on < today).order_by(Lot.lot_number)
        )
        expired = []
        for lot in due:
            new = check_lot_transition(lot.status, LotStatus.EXPIRED.value)
            reason = f"expiry date {lot.expires_on.isoformat()} has passed"
            self._set_status(session, lot, new, actor=actor, reason=reason, signature_id=None)
            expired.append(lot.lot_number)
        return expired

    def _set_status(
        self, session: Session, lot: Lot, new: LotStatus, *, actor: str, reason: str, signature_id: str | None
    ) -> None:
        """Change ``lot``'s status with its history row and audit event (the transition is checked already)."""
        before, lot.status = lot.status, new.value
        session.add(
            LotStatusChange(
                id=new_id(),
                lot_id=lot.id,
                from_status=before,
                to_status=new.value,
                reason=reason,
                signature_id=signature_id,
                changed_at=self.clock.now(),
                changed_by=actor,
            )
        )
        session.flush()
        after: dict[str, Any] = {"status": new.value}
        if signature_id is not None:
            after["signature"] = signature_id
        self.audit.record(
            session,
            actor=actor,
            action="lot.status.changed",
            entity=Entity("lot", lot.lot_number),
            before={"status": before},
            after=after,
            reason=reason,
        )

    def usable_container(self, session: Session, *, barcode: str, material: str, needed: Decimal) -> Container:
        """The container ``barcode`` if it holds ``needed`` of a released, unexpired lot of ``material``.

        Raises NotFound for an unknown barcode and ValidationError naming the problem.
        """
        container = session.get(Container, barcode)
        if container is None:
            raise NotFound(f"container {barcode!r} is unknown; scan the label again or check the lot")
        lot = session.get(Lot, container.lot_id)
        assert lot is not None
        if lot.material_code != material:
            raise ValidationError(
                f"wrong material: container {barcode} holds {lot.material_code} (lot {lot.lot_number}) "
                f"but this step needs {material}"
            )
        self._check_released(session, lot)
        today = self.clock.now().date()
        if lot.expires_on < today:
            raise ValidationError(f"lot {lot.lot_number} expired on {lot.expires_on}; use an unexpired lot")
        if lot.retest_on is not None and lot.retest_on < today:
            raise ValidationError(
                f"lot {lot.lot_number} was due for retest on {lot.retest_on}; QA must retest it before use"
            )
        if container.quantity < needed or lot.quantity < needed:
            raise ValidationError(
                f"container {barcode} holds {container.quantity} {container.unit}, less than the "
                f"{needed:.4f} needed; use another container"
            )
        return container

    def _check_released(self, session: Session, lot: Lot) -> None:
        """ValidationError naming the status and the reason of its last change unless ``lot`` is released."""
        if lot.status == LotStatus.RELEASED.value:
            return
        query = select(LotStatusChange.reason).where(LotStatusChange.lot_id == lot.id)
        last = session.scalars(query.order_by(LotStatusChange.changed_at.desc())).first()
        why = f" ({last})" if last else ""
        raise ValidationError(f"lot {lot.lot_number} is {lot.status}, not released{why}; use a released lot")

    def record_output(
        self, session: Session, *, actor: str, batch_id: str, number: str, product: str, quantity: Decimal, unit: str
    ) -> Lot:
        """The output lot of a completed batch, in quarantine until QA releases it."""
        if session.get(Material, product) is None:
            self.create_material(session, actor=actor, code=product, name=product, unit=unit)
        expires = self.clock.now().date() + dt.timedelta(days=OUTPUT_SHELF_LIFE_DAYS)
        return self.receive_lot(
            session,
            actor=actor,
            material=product,
            lot_number=number,
            quantity=quantity,
            expires_on=expires,
            produced_by=batch_id,
        )

    def lot_of(self, session: Session, container: Container) -> Lot:
        """The lot a container belongs to."""
        lot = session.get(Lot, container.lot_id)
        if lot is None:
            raise NotFound(f"container {container.barcode} belongs to no lot")
        return lot

    def consume(
        self, session: Session, *, actor: str, batch_id: str, step_path: str, barcode: str, quantity: Decimal
    ) -> MaterialConsumption:
        """Decrement the container and its lot by ``quantity`` and record the genealogy link."""
        container = session.get(Container, barcode)
        if container is None:
            raise NotFound(f"container {barcode!r} is unknown")
        lot = session.get(Lot, container.lot_id, with_for_update=True)
        assert lot is not None
        # Checked again here: the lot may have been put on hold (QA, an ERP block) since the scan.
        self._check_released(session, lot)
        if container.quantity < quantity or lot.quantity < quantity:
            raise ValidationError(f"container {barcode} holds only {container.quantity}; {quantity} cannot be taken")
        before = {"quantity": lot.quantity}
        container.quantity -= quantity
        lot.quantity -= quantity
        row = MaterialConsumption(
            id=new_id(),
            batch_id=batch_id,
            step_path=step_path,
            lot_id=lot.id,
            container=barcode,
            quantity=quantity,
            unit=container.unit,
            consumed_at=self.clock.now(),
            consumed_by=actor,
        )
        session.add(row)
        session.flush()
        after = {"quantity": lot.quantity, "consumed": quantity, "batch": batch_id, "step": step_path}
        self.audit.record(
            session,
            actor=actor,
            action="lot.consumed",
            entity=Entity("lot", lot.lot_number),
            before=before,
            after=after,
        )
        return row
