"""Tables of training and qualification.

* ``training_curriculum``: a named set of SOPs (and what it qualifies for, in words), with
  how long a training stays valid (``validity_days``; none: it does not expire).
* ``training_requirement``: a phase type (optionally on one unit), a recipe or a unit
  that requires a curriculum. No requirement: nothing is checked.
* ``training_record``: one person trained on one curriculum, by a trainer, on a date,
  valid until ``expires_on``, signed "trained" by the trainee (``signature_id``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ebr.core.db import Base


class Curriculum(Base):
    """A named set of SOPs a person is trained on together."""

    __tablename__ = "training_curriculum"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    sops: Mapped[list[Any]] = mapped_column(JSON)
    validity_days: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(String(100))


class Requirement(Base):
    """``kind`` (phase_type, recipe or equipment) ``target`` requires ``curriculum_id``.

    For a phase type, ``unit`` narrows it to steps on that unit (none: on every unit).
    """

    __tablename__ = "training_requirement"
    __table_args__ = (Index("ix_training_requirement_kind_target", "kind", "target"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    curriculum_id: Mapped[str] = mapped_column(ForeignKey("training_curriculum.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(100))
    unit: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(String(100))


class TrainingRecord(Base):
    """A person trained on a curriculum; signed "trained" by that person."""

    __tablename__ = "training_record"
    __table_args__ = (Index("ix_training_record_trainee_curriculum", "trainee", "curriculum_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    curriculum_id: Mapped[str] = mapped_column(ForeignKey("training_curriculum.id"))
    trainee: Mapped[str] = mapped_column(String(100))
    trainer: Mapped[str] = mapped_column(String(200))
    trained_on: Mapped[dt.date] = mapped_column(Date)
    expires_on: Mapped[dt.date | None] = mapped_column(Date)
    recorded_at: Mapped[dt.datetime]
    recorded_by: Mapped[str] = mapped_column(String(100))
    signature_id: Mapped[str] = mapped_column(String(36))
    comment: Mapped[str] = mapped_column(Text, default="")
