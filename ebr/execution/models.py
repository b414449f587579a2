"""Tables of batch execution.

``batch`` holds the frozen control recipe (a scaled copy of the approved master
recipe version) and the batch's lifecycle status and ISA-88 state. Every
procedural element of the control recipe (unit procedure, operation, phase) is
one ``batch_step`` row with its own ISA-88 state and an optimistic ``version``:
two users completing the same step at once cannot both win. Recorded values are
``step_entry`` rows; a correction adds a new row that points at the one it
corrects, which stays (EU GMP Annex 11 §8.2). Signatures on steps, deviations and
corrections are ``record_signature`` rows pointing at the signatures package's
signature id. ``deviation`` rows carry severity, comment and investigation.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ebr.core.db import Base


class Batch(Base):
    """One batch: its control recipe, size, order, lifecycle status and ISA-88 state."""

    __tablename__ = "batch"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    production_order: Mapped[str] = mapped_column(String(64), index=True)
    recipe_name: Mapped[str] = mapped_column(String(100))
    recipe_version: Mapped[str] = mapped_column(String(32))
    product_code: Mapped[str] = mapped_column(String(64))
    size: Mapped[Decimal]
    size_unit: Mapped[str] = mapped_column(String(16))
    # Deferred: a large control recipe is read once per process (plans are cached), not per step.
    control_recipe: Mapped[dict[str, Any]] = mapped_column(JSON, deferred=True)
    control_recipe_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True)
    state: Mapped[str] = mapped_column(String(16))
    output_lot_id: Mapped[str | None] = mapped_column(String(36))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[dt.datetime | None]
    ended_at: Mapped[dt.datetime | None]

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declared form


class BatchNumber(Base):
    """The last batch number given on a day (``B<day>-<last>``): one row a day, counted up under its row lock.

    Taken in the creating transaction, so a rolled-back batch gives its number back
    (no gaps) and a concurrent creator waits for the commit (no duplicates).
    """

    __tablename__ = "batch_number"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class BatchStep(Base):
    """A procedural element of a batch (unit procedure, operation or phase) and its state."""

    __tablename__ = "batch_step"
    __table_args__ = (
        Index("ix_batch_step_batch_path", "batch_id", "path", unique=True),
        Index("ix_batch_step_batch_parent", "batch_id", "parent"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batch.id"))
    path: Mapped[str] = mapped_column(String(200))
    parent: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    phase_type: Mapped[str | None] = mapped_column(String(32))
    unit: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    ready: Mapped[bool] = mapped_column(Boolean)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime | None]
    started_by: Mapped[str | None] = mapped_column(String(100))
    ended_at: Mapped[dt.datetime | None]
    ended_by: Mapped[str | None] = mapped_column(String(100))

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declared form


class StepEntry(Base):
    """A value recorded on a step; a correction is a new row, the original stays."""

    __tablename__ = "step_entry"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batch.id"), index=True)
    step_id: Mapped[str] = mapped_column(ForeignKey("batch_step.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    value: Mapped[str] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(String(16))
    in_limits: Mapped[bool | None] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(32))
    recorded_at: Mapped[dt.datetime]
    recorded_by: Mapped[str] = mapped_column(String(100))
    corrects: Mapped[str | None] = mapped_column(String(36))
    correction_reason: Mapped[str | None] = mapped_column(Text)
    superseded_at: Mapped[dt.datetime | None]


class Deviation(Base):
    """A departure from the recipe or the process, opened by the engine or by a person."""

    __tablename__ = "deviation"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batch.id"), index=True)
    step_path: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text)
    comment: Mapped[str] = mapped_column(Text)
    investigation_ref: Mapped[str | None] = mapped_column(String(100))
    opened_at: Mapped[dt.datetime]
    opened_by: Mapped[str] = mapped_column(String(100))
    closed_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(Integer)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declared form


class RecordSignature(Base):
    """A signature given on a step, a deviation or a correction (the signatures package holds the signature)."""

    __tablename__ = "record_signature"
    __table_args__ = (Index("ix_record_signature_subject", "subject_type", "subject_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batch.id"), index=True)
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(36))
    meaning: Mapped[str] = mapped_column(String(20))
    signer: Mapped[str] = mapped_column(String(100))
    signature_id: Mapped[str] = mapped_column(String(36))
    signed_at: Mapped[dt.datetime]


class ReviewDisposition(Base):
    """QA's comment on one exception of a batch (review by exception); release needs one per exception."""

    __tablename__ = "review_disposition"
    __table_args__ = (Index("ix_review_disposition_batch_item", "batch_id", "item_key", unique=True),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batch.id"))
    item_key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    comment: Mapped[str] = mapped_column(Text)
    dispositioned_at: Mapped[dt.datetime]
    dispositioned_by: Mapped[str] = mapped_column(String(100))


class SampleResult(Base):
    """A QC result for one test of a sample taken in a batch step, judged against its specification."""

    __tablename__ = "sample_result"
    __table_args__ = (Index("ix_sample_result_step_test", "step_id", "test", unique=True),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batch.id"), index=True)
    step_id: Mapped[str] = mapped_column(ForeignKey("batch_step.id"))
    sample_id: Mapped[str] = mapped_column(String(100), index=True)
    test: Mapped[str] = mapped_column(String(100))
    value: Mapped[str] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(String(16))
    low: Mapped[Decimal | None]
    high: Mapped[Decimal | None]
    in_spec: Mapped[bool | None] = mapped_column(Boolean)
    deviation: Mapped[str | None] = mapped_column(String(64))
    entered_at: Mapped[dt.datetime]
    entered_by: Mapped[str] = mapped_column(String(100))


class MaterialReturn(Base):
    """What came back in a container the batch took from (re-weighed) and what was wasted, for reconciliation."""

    __tablename__ = "material_return"
    __table_args__ = (Index("ix_material_return_batch_container", "batch_id", "container", unique=True),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batch.id"))
    container: Mapped[str] = mapped_column(String(64))
    returned: Mapped[Decimal]
    waste: Mapped[Decimal]
    unit: Mapped[str] = mapped_column(String(16))
    recorded_at: Mapped[dt.datetime]
    recorded_by: Mapped[str] = mapped_column(String(100))
