"""Tables of production performance; both are append-only (the database refuses UPDATE and DELETE).

* ``performance_state``: each change of a unit's state in the ISO 22400 time model
  (running, idle, held, down, planned), from ``since`` until the unit's next row. Derived
  from audit events in their own transaction (``source = derived``, the event's seq in
  ``audit_seq``), or set by a person (``source = person``, audited as ``performance.state.set``).
* ``performance_reason``: a downtime reason assigned to a stop (a ``held`` or ``down`` row);
  a later row for the same stop supersedes the earlier one (both stay: who changed it, when).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ebr.core.db import Base


class UnitState(Base):
    """A unit entered ``state`` at ``since``."""

    __tablename__ = "performance_state"
    __table_args__ = (Index("ix_performance_state_unit_since", "unit", "since"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    unit: Mapped[str] = mapped_column(String(64))
    area: Mapped[str] = mapped_column(String(100), index=True)
    state: Mapped[str] = mapped_column(String(16))
    cause: Mapped[str] = mapped_column(Text, default="")
    batch_number: Mapped[str | None] = mapped_column(String(64), index=True)
    step_path: Mapped[str | None] = mapped_column(String(200))
    since: Mapped[dt.datetime]
    source: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(100))
    audit_seq: Mapped[int | None] = mapped_column(BigInteger)


class StopReason(Base):
    """A downtime reason (a path in the area's reason tree) assigned to a stop."""

    __tablename__ = "performance_reason"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    state_id: Mapped[int] = mapped_column(ForeignKey("performance_state.id"), index=True)
    reason: Mapped[str] = mapped_column(String(400))
    comment: Mapped[str] = mapped_column(Text, default="")
    assigned_at: Mapped[dt.datetime]
    assigned_by: Mapped[str] = mapped_column(String(100))
