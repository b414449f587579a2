"""equipment: plant model, logbook, cleaning, calibration and the runtime exchange tables.

Revision ID: equipment_0001_plant
Revises: 0001_base
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ebr.core.db

revision: str = "equipment_0001_plant"
down_revision: str | Sequence[str] | None = "0001_base"
branch_labels: str | Sequence[str] | None = ("equipment",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "equipment_alarm",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", ebr.core.db.UTCDateTime(), nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column("phase_ref", sa.String(length=200), nullable=True),
        sa.Column("condition", sa.String(length=64), nullable=False),
        sa.Column("tag", sa.String(length=128), nullable=True),
        sa.Column("value", sa.String(length=64), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("acknowledged_at", ebr.core.db.UTCDateTime(), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equipment_alarm")),
    )
    op.create_index(op.f("ix_equipment_alarm_phase_ref"), "equipment_alarm", ["phase_ref"])
    op.create_table(
        "equipment_area",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equipment_area")),
        sa.UniqueConstraint("name", name=op.f("uq_equipment_area_name")),
    )
    op.create_table(
        "equipment_command",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("phase_ref", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("submitted_at", ebr.core.db.UTCDateTime(), nullable=False),
        sa.Column("submitted_by", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("picked_at", ebr.core.db.UTCDateTime(), nullable=True),
        sa.Column("result", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equipment_command")),
    )
    op.create_index(op.f("ix_equipment_command_phase_ref"), "equipment_command", ["phase_ref"])
    op.create_index(op.f("ix_equipment_command_status"), "equipment_command", ["status"])
    op.create_table(
        "equipment_event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", ebr.core.db.UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=True),
        sa.Column("phase_ref", sa.String(length=200), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equipment_event")),
    )
    op.create_index(op.f("ix_equipment_event_phase_ref"), "equipment_event", ["phase_ref"])
    op.create_table(
        "equipment_heartbeat",
        sa.Column("runtime_id", sa.String(length=100), nullable=False),
        sa.Column("area", sa.String(length=100), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", ebr.core.db.UTCDateTime(), nullable=False),
        sa.Column("beat_at", ebr.core.db.UTCDateTime(), nullable=False),
        sa.Column("connected", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("runtime_id", name=op.f("pk_equipment_heartbeat")),
    )
    op.create_table(
        "equipment_phase_state",
        sa.Column("phase_ref", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("target", ebr.core.db.Quantity(), nullable=True),
        sa.Column("actual", ebr.core.db.Quantity(), nullable=True),
        sa.Column("quantity_unit", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("started_at", ebr.core.db.UTCDateTime(), nullable=True),
        sa.Column("updated_at", ebr.core.db.UTCDateTime(), nullable=False),
        sa.Column("ended_at", ebr.core.db.UTCDateTime(), nullable=True),
        sa.Column("runtime_id", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("phase_ref", name=op.f("pk_equipment_phase_state")),
    )
    op.create_table(
        "equipment_reading",
        sa.Column("tag", sa.String(length=128), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("number", ebr.core.db.Quantity(), nullable=True),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("quality", sa.String(length=64), nullable=False),
        sa.Column("source_ts", ebr.core.db.UTCDateTime(), nullable=True),
        sa.Column("server_ts", ebr.core.db.UTCDateTime(), nullable=True),
        sa.Column("updated_at", ebr.core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tag", name=op.f("pk_equipment_reading")),
    )
    op.create_table(
        "equipment_trend",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tag", sa.String(length=128), nullable=False),
        sa.Column("at", ebr.core.db.UTCDateTime(), nullable=False),
        sa.Column("minimum", ebr.core.db.Quantity(), nullable=False),
        sa.Column("mean", ebr.core.db.Quantity(), nullable=False),
        sa.Column("maximum", ebr.core.db.Quantity(), nullable=False),
        sa.Column("last", ebr.core.db.Quantity(), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("phase_ref", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equipment_trend")),
    )
    op.create_index(op.f("ix_equipment_trend_phase_ref"), "equipment_trend", ["phase_ref"])
    op.create_index("ix_equipment_trend_tag_at", "equipment_trend", ["tag", "at"])
    op.create_table(
        "equipment",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("area_id", sa.String(length=36), nullable=True),
        sa.Column("parent_id", sa.String(length=36), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("status_changed_at", ebr.core.db.UTCDateTime(), nullable=False),
        sa.Column("in_use_by", sa.String(length=200), nullable=True),
        sa.Column("clean_hold_hours", sa.Integer(), nullable=True),
        sa.Column("last_cleaned_at", ebr.core.db.UTCDateTime(), nullable=True),
        sa.Column("requires_calibration", sa.Boolean(), nullable=False),
        sa.Column("calibration_interval_days", sa.Integer(), nullable=True),
        sa.Column("calibration_due_at", ebr.core.db.UTCDateTime(), nullable=True),
        sa.Column("capacity", ebr.core.db.Quantity(), nullable=True),
        sa.Column("capacity_unit", sa.String(length=16), nullable=True),
        sa.Column("created_at", ebr.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["area_id"], ["equipment_area.id"], name=op.f("fk_equipment_area_id_equipment_area")),
        sa.ForeignKeyConstraint(["parent_id"], ["equipment.id"], name=op.f("fk_equipment_parent_id_equipment")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equipment")),
        sa.UniqueConstraint("tag", name=op.f("uq_equipment_tag")),
    )
    op.create_table(
        "equipment_calibration",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("equipment_id", sa.String(length=36), nullable=False),
        sa.Column("calibrated_at", ebr.core.db.UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("due_at", ebr.core.db.UTCDateTime(), nullable=False),
        sa.Column("certificate", sa.String(length=200), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["equipment_id"], ["equipment.id"], name=op.f("fk_equipment_calibration_equipment_id_equipment")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equipment_calibration")),
    )
    op.create_index(op.f("ix_equipment_calibration_equipment_id"), "equipment_calibration", ["equipment_id"])
    op.create_table(
        "equipment_cleaning",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("equipment_id", sa.String(length=36), nullable=False),
        sa.Column("cleaned_at", ebr.core.db.UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("method", sa.String(length=200), nullable=False),
        sa.Column("expires_at", ebr.core.db.UTCDateTime(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["equipment_id"], ["equipment.id"], name=op.f("fk_equipment_cleaning_equipment_id_equipment")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equipment_cleaning")),
    )
    op.create_index(op.f("ix_equipment_cleaning_equipment_id"), "equipment_cleaning", ["equipment_id"])
    op.create_table(
        "equipment_status_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("equipment_id", sa.String(length=36), nullable=False),
        sa.Column("at", ebr.core.db.UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("from_status", sa.String(length=32), nullable=True),
        sa.Column("to_status", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["equipment_id"], ["equipment.id"], name=op.f("fk_equipment_status_log_equipment_id_equipment")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equipment_status_log")),
    )
    op.create_index(op.f("ix_equipment_status_log_equipment_id"), "equipment_status_log", ["equipment_id"])


def downgrade() -> None:
    op.drop_table("equipment_status_log")
    op.drop_table("equipment_cleaning")
    op.drop_table("equipment_calibration")
    op.drop_table("equipment")
    op.drop_table("equipment_trend")
    op.drop_table("equipment_reading")
    op.drop_table("equipment_phase_state")
    op.drop_table("equipment_heartbeat")
    op.drop_table("equipment_event")
    op.drop_table("equipment_command")
    op.drop_table("equipment_area")
    op.drop_table("equipment_alarm")
