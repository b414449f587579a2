"""Tables of the `equipment` package.

Plant model (GMP data, every change audited): ``equipment_area``, ``equipment``,
``equipment_status_log``, ``equipment_cleaning``, ``equipment_calibration``,
``equipment_maintenance``.

Runtime exchange (the only link between the application and ``ebr runtime``):
``equipment_command`` (application → runtime), ``equipment_phase_state``,
``equipment_event``, ``equipment_alarm``, ``equipment_reading``,
``equipment_trend`` and ``equipment_heartbeat`` (runtime → application).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ebr.core.db import Base


class Area(Base):
    """A plant area (one equipment runtime serves one area)."""

    __tablename__ = "equipment_area"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")


class Equipment(Base):
    """A unit, tank, scale, valve, pump, agitator, instrument…, known by its tag."""

    __tablename__ = "equipment"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tag: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    area_id: Mapped[str | None] = mapped_column(ForeignKey("equipment_area.id"))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("equipment.id"))
    status: Mapped[str] = mapped_column(String(32))
    status_changed_at: Mapped[dt.datetime]
    in_use_by: Mapped[str | None] = mapped_column(String(200))
    clean_hold_hours: Mapped[int | None] = mapped_column(Integer)
    last_cleaned_at: Mapped[dt.datetime | None]
    requires_calibration: Mapped[bool] = mapped_column(Boolean, default=False)
    calibration_interval_days: Mapped[int | None] = mapped_column(Integer)
    calibration_due_at: Mapped[dt.datetime | None]
    capacity: Mapped[Decimal | None]
    capacity_unit: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[dt.datetime]


class StatusLogEntry(Base):
    """The equipment logbook: every status change with who, when and why."""

    __tablename__ = "equipment_status_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    equipment_id: Mapped[str] = mapped_column(ForeignKey("equipment.id"), index=True)
    at: Mapped[dt.datetime]
    actor: Mapped[str] = mapped_column(String(200))
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(String(200))


class CleaningRecord(Base):
    """One cleaning; the equipment is clean until ``expires_at`` (its clean-hold time)."""

    __tablename__ = "equipment_cleaning"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    equipment_id: Mapped[str] = mapped_column(ForeignKey("equipment.id"), index=True)
    cleaned_at: Mapped[dt.datetime]
    actor: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[dt.datetime | None]
    comment: Mapped[str] = mapped_column(Text, default="")


class CalibrationRecord(Base):
    """One calibration with its result and the date the next one is due."""

    __tablename__ = "equipment_calibration"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    equipment_id: Mapped[str] = mapped_column(ForeignKey("equipment.id"), index=True)
    calibrated_at: Mapped[dt.datetime]
    actor: Mapped[str] = mapped_column(String(200))
    passed: Mapped[bool] = mapped_column(Boolean)
    due_at: Mapped[dt.datetime]
    certificate: Mapped[str] = mapped_column(String(200), default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    # What the instrument read before and after adjustment (free text: points, readings, errors).
    as_found: Mapped[str] = mapped_column(Text, default="")
    as_left: Mapped[str] = mapped_column(Text, default="")
    # Who did the work: an internal user id, or a contractor's name (``contractor`` true).
    performed_by: Mapped[str] = mapped_column(String(200), default="")
    contractor: Mapped[bool] = mapped_column(Boolean, default=False)


class MaintenanceRecord(Base):
    """One maintenance intervention (preventive or corrective) on a unit."""

    __tablename__ = "equipment_maintenance"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    equipment_id: Mapped[str] = mapped_column(ForeignKey("equipment.id"), index=True)
    performed_at: Mapped[dt.datetime]
    actor: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text)
    performed_by: Mapped[str] = mapped_column(String(200))
    contractor: Mapped[bool] = mapped_column(Boolean, default=False)
    returned_to_service: Mapped[bool] = mapped_column(Boolean, default=False)


class Command(Base):
    """A command for the equipment runtime (``start_dosing``, ``hold``, ``restart``, ``stop``…)."""

    __tablename__ = "equipment_command"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    phase_ref: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    unit: Mapped[str] = mapped_column(String(64))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    submitted_at: Mapped[dt.datetime]
    submitted_by: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), index=True)
    picked_at: Mapped[dt.datetime | None]
    result: Mapped[str] = mapped_column(Text, default="")


class PhaseState(Base):
    """The state of an automated phase as the runtime last reported it."""

    __tablename__ = "equipment_phase_state"

    phase_ref: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    unit: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    target: Mapped[Decimal | None]
    actual: Mapped[Decimal | None]
    quantity_unit: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]
    runtime_id: Mapped[str | None] = mapped_column(String(100))


class Event(Base):
    """Something the runtime reports: a phase state change, a trip, a reconnection."""

    __tablename__ = "equipment_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime]
    kind: Mapped[str] = mapped_column(String(32))
    unit: Mapped[str | None] = mapped_column(String(64))
    phase_ref: Mapped[str | None] = mapped_column(String(200), index=True)
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class Alarm(Base):
    """An interlock trip or process alarm, open until acknowledged."""

    __tablename__ = "equipment_alarm"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime]
    unit: Mapped[str] = mapped_column(String(64))
    phase_ref: Mapped[str | None] = mapped_column(String(200), index=True)
    condition: Mapped[str] = mapped_column(String(64))
    tag: Mapped[str | None] = mapped_column(String(128))
    value: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    acknowledged_at: Mapped[dt.datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))


class Reading(Base):
    """The latest value of a logical tag, with its quality and timestamps."""

    __tablename__ = "equipment_reading"

    tag: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(String(64))
    number: Mapped[Decimal | None]
    unit: Mapped[str] = mapped_column(String(16), default="")
    quality: Mapped[str] = mapped_column(String(64))
    source_ts: Mapped[dt.datetime | None]
    server_ts: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime]


class TrendPoint(Base):
    """A downsampled trend bucket (min, mean, max, last) of a numeric tag."""

    __tablename__ = "equipment_trend"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tag: Mapped[str] = mapped_column(String(128))
    at: Mapped[dt.datetime]
    minimum: Mapped[Decimal]
    mean: Mapped[Decimal]
    maximum: Mapped[Decimal]
    last: Mapped[Decimal]
    samples: Mapped[int] = mapped_column(Integer)
    phase_ref: Mapped[str | None] = mapped_column(String(200), index=True)

    __table_args__ = (Index("ix_equipment_trend_tag_at", "tag", "at"),)


class Heartbeat(Base):
    """One row per running equipment runtime; ``beat_at`` moves every second."""

    __tablename__ = "equipment_heartbeat"

    runtime_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    area: Mapped[str] = mapped_column(String(100))
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime]
    beat_at: Mapped[dt.datetime]
    connected: Mapped[bool] = mapped_column(Boolean)
    detail: Mapped[str] = mapped_column(Text, default="")
