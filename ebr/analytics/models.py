"""Tables of process analytics (continued process verification).

* ``analytics_parameter``: a declared parameter id (e.g. ``PCM-SOL-24.water-temperature``)
  of a product, its title, unit, whether it is critical (charted in the annual
  review), optional specification limits that override the recipe's, the rule set
  and the baseline batches its control limits come from.
* ``analytics_parameter_source``: where the parameter is recorded in a recipe: the
  step path and entry name, for one recipe version or for every version (``*``).
  A recipe version that moves the step gets its own source row; the parameter id,
  and so the chart, stays the same.
* ``analytics_reference_batch``: released batches marked as golden (reference) batches.
* ``analytics_trend_notification``: a rule broken by a released batch, with the chart
  as it was then, and QA's signed assessment.
* ``analytics_evaluated_batch``: which released batches the trend job has evaluated.

``batch_id`` names a ``batch`` row of the app branch without a foreign key (the
migration branches stay independent; see the migration).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ebr.core.db import Base

ALL_VERSIONS = "*"


class Parameter(Base):
    """A parameter declared for analytics, stable across recipe versions."""

    __tablename__ = "analytics_parameter"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    product_code: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str | None] = mapped_column(String(16))
    critical: Mapped[bool] = mapped_column(Boolean)
    lsl: Mapped[Decimal | None]
    usl: Mapped[Decimal | None]
    ruleset: Mapped[str] = mapped_column(String(32))
    baseline: Mapped[list[str] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declared form


class ParameterSource(Base):
    """Where a declared parameter is recorded in (a version of) a recipe."""

    __tablename__ = "analytics_parameter_source"
    __table_args__ = (
        Index("ix_analytics_parameter_source_key", "parameter_id", "recipe_name", "recipe_version", unique=True),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    parameter_id: Mapped[str] = mapped_column(ForeignKey("analytics_parameter.id"))
    recipe_name: Mapped[str] = mapped_column(String(100))
    recipe_version: Mapped[str] = mapped_column(String(32))
    step_path: Mapped[str] = mapped_column(String(200))
    entry_name: Mapped[str] = mapped_column(String(100))


class ReferenceBatch(Base):
    """A released batch marked as a golden (reference) batch of its product."""

    __tablename__ = "analytics_reference_batch"

    batch_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    product_code: Mapped[str] = mapped_column(String(64), index=True)
    marked_at: Mapped[dt.datetime]
    marked_by: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)


class TrendNotification(Base):
    """A control-chart rule broken by a released batch, for QA to assess (not a deviation)."""

    __tablename__ = "analytics_trend_notification"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    parameter_id: Mapped[str] = mapped_column(ForeignKey("analytics_parameter.id"), index=True)
    batch_id: Mapped[str] = mapped_column(String(36), index=True)
    batch_number: Mapped[str] = mapped_column(String(64))
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    chart_svg: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)
    opened_at: Mapped[dt.datetime]
    opened_by: Mapped[str] = mapped_column(String(100))
    assessment: Mapped[str | None] = mapped_column(Text)
    conclusion: Mapped[str | None] = mapped_column(String(32))
    assessed_by: Mapped[str | None] = mapped_column(String(100))
    assessed_at: Mapped[dt.datetime | None]
    signature_id: Mapped[str | None] = mapped_column(String(36))
    version: Mapped[int] = mapped_column(Integer)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declared form


class EvaluatedBatch(Base):
    """A released batch the trend job has evaluated (once), and what it found."""

    __tablename__ = "analytics_evaluated_batch"

    batch_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    evaluated_at: Mapped[dt.datetime]
    notifications: Mapped[int] = mapped_column(Integer)
