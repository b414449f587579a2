"""Tables of materials, lots, containers and genealogy.

``material`` is the material master; a ``lot`` is one received (or produced)
quantity of a material with its status, expiry and potency; a ``container`` holds
part of a lot and carries the barcode that operators scan. ``lot_status_change``
keeps every status change with its signature; ``lot_sample`` every sample taken
from a container; ``material_consumption`` links the
lots consumed to the batch that consumed them (together with ``lot.produced_by``
this is the genealogy). Users, signatures and batches are referenced by id
without foreign keys into other packages so each branch migrates on its own.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ebr.core.db import Base


class Material(Base):
    """The material master: what a material is and how it is measured."""

    __tablename__ = "material"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(16))
    hazardous: Mapped[bool] = mapped_column(Boolean)
    allergen: Mapped[bool] = mapped_column(Boolean)
    hazard_note: Mapped[str] = mapped_column(Text)
    storage: Mapped[str] = mapped_column(String(200), default="")
    retest_interval_days: Mapped[int | None] = mapped_column(Integer)
    potency_applies: Mapped[bool] = mapped_column(Boolean, default=False)
    label_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(String(100))


class Lot(Base):
    """A lot of a material: status, expiry, potency and the quantity on hand."""

    __tablename__ = "lot"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    lot_number: Mapped[str] = mapped_column(String(64), unique=True)
    material_code: Mapped[str] = mapped_column(ForeignKey("material.code"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    expires_on: Mapped[dt.date] = mapped_column(Date)
    potency: Mapped[Decimal | None]
    quantity: Mapped[Decimal]
    unit: Mapped[str] = mapped_column(String(16))
    produced_by: Mapped[str | None] = mapped_column(String(36), index=True)
    supplier: Mapped[str | None] = mapped_column(String(200))
    supplier_lot: Mapped[str | None] = mapped_column(String(64))
    received_on: Mapped[dt.date | None] = mapped_column(Date)
    retest_on: Mapped[dt.date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(String(100))

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declared form


class Container(Base):
    """A container holding part of a lot, known by its barcode."""

    __tablename__ = "container"

    barcode: Mapped[str] = mapped_column(String(64), primary_key=True)
    lot_id: Mapped[str] = mapped_column(ForeignKey("lot.id"), index=True)
    quantity: Mapped[Decimal]
    received_quantity: Mapped[Decimal | None]
    unit: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime]


class LotSample(Base):
    """A sample taken from a container of a lot (for QC testing before release)."""

    __tablename__ = "lot_sample"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    lot_id: Mapped[str] = mapped_column(ForeignKey("lot.id"), index=True)
    container: Mapped[str] = mapped_column(ForeignKey("container.barcode"))
    quantity: Mapped[Decimal]
    unit: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(Text)
    taken_at: Mapped[dt.datetime]
    taken_by: Mapped[str] = mapped_column(String(100))


class LotStatusChange(Base):
    """One signed change of a lot's status (quarantine → released, …)."""

    __tablename__ = "lot_status_change"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    lot_id: Mapped[str] = mapped_column(ForeignKey("lot.id"), index=True)
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    signature_id: Mapped[str | None] = mapped_column(String(36))
    changed_at: Mapped[dt.datetime]
    changed_by: Mapped[str] = mapped_column(String(100))


class MaterialConsumption(Base):
    """A quantity of a lot consumed by a batch step (the backward genealogy)."""

    __tablename__ = "material_consumption"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(36), index=True)
    step_path: Mapped[str] = mapped_column(String(200))
    lot_id: Mapped[str] = mapped_column(ForeignKey("lot.id"), index=True)
    container: Mapped[str | None] = mapped_column(String(64))
    quantity: Mapped[Decimal]
    unit: Mapped[str] = mapped_column(String(16))
    consumed_at: Mapped[dt.datetime]
    consumed_by: Mapped[str] = mapped_column(String(100))
