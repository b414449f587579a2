"""The warehouse and QA around a lot: goods receipt into containers, sampling, signed
disposition (release, reject, quarantine), retest, and the stock of each container.

Every function is one step of a unit of work: it changes GMP data and appends its
audit event in the caller's transaction (the caller commits). Errors say what was
wrong and what to do: ValidationError (bad input, every problem listed), NotFound,
Conflict (the lot changed since it was shown), PermissionDenied (signing for
somebody else), StateError-like refusals from the lot's transition table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.chain import Entity
from ebr.core.errors import Conflict, NotFound, ValidationError
from ebr.core.ids import new_id
from ebr.execution.rules import LotStatus, parse_decimal
from ebr.materials.labels import Label
from ebr.materials.models import Container, Lot, LotSample, LotStatusChange, MaterialConsumption
from ebr.materials.services import Credentials, MaterialService
from signatures.signing import require_own_signature

MAX_CONTAINERS = 999
"""Containers per receipt: barcodes are ``<lot>-001`` … ``<lot>-999``."""
MAX_LOT_NUMBER = 60
DISPOSITIONS = {"release": LotStatus.RELEASED, "reject": LotStatus.REJECTED, "quarantine": LotStatus.QUARANTINE}


def barcode_of(lot_number: str, index: int) -> str:
    """The barcode of the ``index``-th (1-based) container of a received lot."""
    return f"{lot_number}-{index:03d}"


MAX_INTEGER_DIGITS = 12
MAX_DECIMALS = 6


def quantity(name: str, raw: object) -> Decimal:
    """A positive quantity of at most 12 integer digits and 6 decimals; ValidationError saying why not."""
    qty = parse_decimal(name, raw)
    if qty <= 0:
        raise ValidationError(f"{name}: quantity {qty} must be greater than zero")
    if qty.adjusted() >= MAX_INTEGER_DIGITS or int(qty.as_tuple().exponent) < -MAX_DECIMALS:
        raise ValidationError(
            f"{name}: {raw!r} is out of range; give at most {MAX_INTEGER_DIGITS} digits before "
            f"and {MAX_DECIMALS} after the decimal point"
        )
    return qty


def _quantities(values: Sequence[Decimal | str | int]) -> tuple[list[Decimal], list[str]]:
    parsed, problems = [], []
    for i, raw in enumerate(values, start=1):
        try:
            parsed.append(quantity(f"container {i}", raw))
        except ValidationError as exc:
            problems.append(exc.message)
    return parsed, problems


def receive_goods(
    svc: MaterialService,
    session: Session,
    *,
    actor: str,
    material: str,
    lot_number: str,
    supplier: str,
    supplier_lot: str,
    containers: Sequence[Decimal | str | int],
    expires_on: dt.date,
    retest_on: dt.date | None = None,
    received_on: dt.date | None = None,
    potency: Decimal | str | None = None,
) -> Lot:
    """Receive a supplier's lot in quarantine in ``len(containers)`` containers.

    The containers get the barcodes ``<lot>-001``, ``<lot>-002`` …; the retest date
    defaults to the receipt date plus the material's retest interval. Raises
    ValidationError listing every problem (nothing is stored), AlreadyExists (one) when
    the lot number is taken, NotFound for an unknown material.
    """
    mat = svc.material(session, material)
    today = svc.clock.now().date()
    received = received_on or today
    named = (("supplier", supplier), ("supplier lot", supplier_lot))
    problems = [f"{name} is required" for name, v in named if not v.strip()]
    lot_number = lot_number.strip()
    if not lot_number or len(lot_number) > MAX_LOT_NUMBER:
        problems.append(f"lot number: give 1 to {MAX_LOT_NUMBER} characters")
    if not 1 <= len(containers) <= MAX_CONTAINERS:
        problems.append(f"containers: give 1 to {MAX_CONTAINERS} container quantities")
    quantities, wrong = _quantities(containers)
    problems += wrong
    if received > today:
        problems.append(f"receipt date {received} is in the future; goods are received today or earlier")
    if expires_on <= received:
        problems.append(f"expiry {expires_on} is not after the receipt date {received}; check the supplier's label")
    if retest_on is None and mat.retest_interval_days:
        retest_on = received + dt.timedelta(days=mat.retest_interval_days)
    if retest_on is not None and not received < retest_on <= expires_on:
        problems.append(
            f"retest date {retest_on} must be after receipt ({received}) and not after expiry ({expires_on})"
        )
    if mat.potency_applies and potency is None:
        problems.append(f"potency is required: {mat.code} is dispensed by potency (give it in % from the CoA)")
    if potency is not None:
        try:
            pot = quantity("potency", potency)
            if pot > 100:
                problems.append(f"potency {pot}% must be above 0 and at most 100")
        except ValidationError as exc:
            problems.append(exc.message)
    if problems:
        raise ValidationError(f"lot {lot_number or '(no number)'} cannot be received", problems)
    return svc.receive_lot(
        session,
        actor=actor,
        material=mat.code,
        lot_number=lot_number,
        quantity=sum(quantities, Decimal(0)),
        expires_on=expires_on,
        potency=potency,
        containers={barcode_of(lot_number, i): q for i, q in enumerate(quantities, start=1)},
        supplier=supplier.strip(),
        supplier_lot=supplier_lot.strip(),
        received_on=received,
        retest_on=retest_on,
    )


def _check_version(lot: Lot, version: int | None) -> None:
    if version is not None and version != lot.version:
        raise Conflict(f"lot {lot.lot_number} changed since you opened it; reload it and decide again")


def disposition(
    svc: MaterialService,
    session: Session,
    *,
    actor: str,
    lot_number: str,
    action: str,
    reason: str,
    signer: Credentials,
    version: int | None = None,
) -> Lot:
    """QA releases, rejects or quarantines a lot, signing it themselves (password re-entered).

    Release is refused for a lot past its expiry or retest date. Raises
    ValidationError, PermissionDenied (signing as someone else), Conflict (the lot
    changed since ``version``), NotFound, and the signing ceremony's errors.
    """
    if action not in DISPOSITIONS:
        raise ValidationError(f"unknown decision {action!r}; use one of: {', '.join(DISPOSITIONS)}")
    require_own_signature(actor, signer.user_id)
    lot = svc.lot(session, lot_number)
    _check_version(lot, version)
    today = svc.clock.now().date()
    if DISPOSITIONS[action] is LotStatus.RELEASED:
        if lot.expires_on < today:
            raise ValidationError(f"lot {lot_number} expired on {lot.expires_on}; an expired lot cannot be released")
        if lot.retest_on is not None and lot.retest_on < today:
            raise ValidationError(f"lot {lot_number} was due for retest on {lot.retest_on}; record the retest first")
    return svc.change_status(
        session, actor=actor, lot_number=lot_number, status=DISPOSITIONS[action].value, reason=reason, signer=signer
    )


def hold(svc: MaterialService, session: Session, *, actor: str, lot_number: str, reason: str) -> Lot:
    """Put a released lot on hold (quarantine) on another system's report, without a signature.

    The safe direction only: it stops the lot being used until QA decides (with a
    signature) again. A lot that is not released is left as it is (returned unchanged).
    """
    lot = svc.lot(session, lot_number)
    if lot.status == LotStatus.RELEASED.value:
        svc._set_status(session, lot, LotStatus.QUARANTINE, actor=actor, reason=reason, signature_id=None)
    return lot


def retest(
    svc: MaterialService,
    session: Session,
    *,
    actor: str,
    lot_number: str,
    retest_on: dt.date,
    reason: str,
    signer: Credentials,
) -> Lot:
    """QA records a passed retest: the lot's next retest date, signed ``approved``."""
    require_own_signature(actor, signer.user_id)
    lot = svc.lot(session, lot_number)
    today = svc.clock.now().date()
    if lot.status not in (LotStatus.QUARANTINE.value, LotStatus.RELEASED.value):
        raise ValidationError(f"lot {lot_number} is {lot.status}; only a quarantined or released lot is retested")
    if not reason.strip():
        raise ValidationError("a retest needs a reason (the test report's reference)")
    if not today < retest_on <= lot.expires_on:
        raise ValidationError(f"next retest date {retest_on} must be after today and not after expiry {lot.expires_on}")
    before = None if lot.retest_on is None else lot.retest_on.isoformat()
    content = {"lot": lot_number, "retest_on": retest_on.isoformat(), "previous": before, "reason": reason}
    record = svc.signer.sign(
        session,
        subject=Entity("lot", lot_number),
        content=content,
        meaning="approved",
        reason=reason,
        user_id=signer.user_id,
        password=signer.password,
    )
    lot.retest_on = retest_on
    session.flush()
    svc.audit.record(
        session,
        actor=actor,
        action="lot.retested",
        entity=Entity("lot", lot_number),
        before={"retest_on": before},
        after={"retest_on": retest_on.isoformat(), "signature": record.id},
        reason=reason,
    )
    return lot


def take_sample(
    svc: MaterialService,
    session: Session,
    *,
    actor: str,
    lot_number: str,
    barcode: str,
    amount: Decimal | str,
    purpose: str,
) -> LotSample:
    """Take a sample from one container of the lot (the container and the lot go down by it)."""
    lot = svc.lot(session, lot_number)
    container = session.get(Container, barcode)
    if container is None or container.lot_id != lot.id:
        raise NotFound(f"container {barcode!r} is not part of lot {lot_number}; scan a container of this lot")
    qty = quantity("sample quantity", amount)
    if qty > container.quantity:
        raise ValidationError(
            f"sample quantity {qty} must be above zero and at most the {container.quantity} {container.unit} "
            f"left in {barcode}"
        )
    if not purpose.strip():
        raise ValidationError("a sample needs a purpose (e.g. identity test, full analysis)")
    container.quantity -= qty
    lot.quantity -= qty
    sample = LotSample(
        id=new_id(),
        lot_id=lot.id,
        container=barcode,
        quantity=qty,
        unit=container.unit,
        purpose=purpose.strip(),
        taken_at=svc.clock.now(),
        taken_by=actor,
    )
    session.add(sample)
    session.flush()
    svc.audit.record(
        session,
        actor=actor,
        action="lot.sampled",
        entity=Entity("lot", lot_number),
        after={"sample": sample.id, "container": barcode, "quantity": qty, "purpose": sample.purpose},
    )
    return sample


@dataclass(frozen=True)
class Stock:
    """One container's stock: received, issued to batches, sampled, remaining."""

    barcode: str
    unit: str
    received: Decimal | None
    issued: Decimal
    sampled: Decimal
    remaining: Decimal

    def as_json(self) -> dict[str, Any]:
        def text(d: Decimal | None) -> str | None:
            return None if d is None else format(d, "f")

        return {
            "barcode": self.barcode,
            "unit": self.unit,
            "received": text(self.received),
            "issued": text(self.issued),
            "sampled": text(self.sampled),
            "remaining": text(self.remaining),
        }


def _sums(session: Session, column: Any, quantity: Any, lot_column: Any, lot_id: str) -> dict[str, Decimal]:
    rows = session.execute(select(column, quantity).where(lot_column == lot_id))
    out: dict[str, Decimal] = {}
    for key, value in rows:
        if key is not None:
            out[key] = out.get(key, Decimal(0)) + value
    return out


def stock(session: Session, lot: Lot) -> list[Stock]:
    """The stock of every container of ``lot`` (issued = consumed by batch steps)."""
    use = MaterialConsumption
    issued = _sums(session, use.container, use.quantity, use.lot_id, lot.id)
    sampled = _sums(session, LotSample.container, LotSample.quantity, LotSample.lot_id, lot.id)
    containers = session.scalars(select(Container).where(Container.lot_id == lot.id).order_by(Container.barcode))
    return [
        Stock(
            c.barcode,
            c.unit,
            c.received_quantity,
            issued.get(c.barcode, Decimal(0)),
            sampled.get(c.barcode, Decimal(0)),
            c.quantity,
        )
        for c in containers
    ]


def samples(session: Session, lot: Lot) -> list[LotSample]:
    """The samples taken from ``lot``, oldest first."""
    return list(session.scalars(select(LotSample).where(LotSample.lot_id == lot.id).order_by(LotSample.taken_at)))


def labels_of(svc: MaterialService, session: Session, lot_number: str) -> list[Label]:
    """One label per container of the lot, with its current quantity and the lot's status."""
    lot = svc.lot(session, lot_number)
    mat = svc.material(session, lot.material_code)
    containers = svc.containers(session, lot)
    return [
        Label(
            barcode=c.barcode,
            material_code=mat.code,
            material_name=mat.name,
            lot_number=lot.lot_number,
            supplier_lot=lot.supplier_lot,
            quantity=c.quantity,
            unit=c.unit,
            status=lot.status,
            expires_on=lot.expires_on,
            retest_on=lot.retest_on,
            storage=mat.storage,
            text=mat.label_text,
            index=i,
            count=len(containers),
        )
        for i, c in enumerate(containers, start=1)
    ]


def history(session: Session, lot: Lot) -> list[LotStatusChange]:
    """The lot's status changes, oldest first."""
    query = select(LotStatusChange).where(LotStatusChange.lot_id == lot.id).order_by(LotStatusChange.changed_at)
    return list(session.scalars(query))
