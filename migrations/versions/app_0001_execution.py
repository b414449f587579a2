"""app: materials, lots, containers, genealogy, batches, steps, entries, deviations.

Revision ID: app_0001_execution
Revises: 0001_base
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ebr.core.db

revision: str = "app_0001_execution"
down_revision: str | Sequence[str] | None = "0001_base"
branch_labels: str | Sequence[str] | None = ("app",)
depends_on: str | Sequence[str] | None = None

Q = ebr.core.db.Quantity
T = ebr.core.db.UTCDateTime


def _materials() -> None:
    op.create_table(
        "material",
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("hazardous", sa.Boolean(), nullable=False),
        sa.Column("allergen", sa.Boolean(), nullable=False),
        sa.Column("hazard_note", sa.Text(), nullable=False),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_material")),
    )
    op.create_table(
        "lot",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("lot_number", sa.String(64), nullable=False),
        sa.Column("material_code", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("potency", Q(), nullable=True),
        sa.Column("quantity", Q(), nullable=False),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("produced_by", sa.String(36), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.ForeignKeyConstraint(["material_code"], ["material.code"], name=op.f("fk_lot_material_code_material")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lot")),
        sa.UniqueConstraint("lot_number", name=op.f("uq_lot_lot_number")),
    )
    op.create_index(op.f("ix_lot_material_code"), "lot", ["material_code"])
    op.create_index(op.f("ix_lot_produced_by"), "lot", ["produced_by"])
    op.create_table(
        "container",
        sa.Column("barcode", sa.String(64), nullable=False),
        sa.Column("lot_id", sa.String(36), nullable=False),
        sa.Column("quantity", Q(), nullable=False),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("created_at", T(), nullable=False),
        sa.ForeignKeyConstraint(["lot_id"], ["lot.id"], name=op.f("fk_container_lot_id_lot")),
        sa.PrimaryKeyConstraint("barcode", name=op.f("pk_container")),
    )
    op.create_index(op.f("ix_container_lot_id"), "container", ["lot_id"])
    op.create_table(
        "lot_status_change",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("lot_id", sa.String(36), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=False),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("signature_id", sa.String(36), nullable=True),
        sa.Column("changed_at", T(), nullable=False),
        sa.Column("changed_by", sa.String(100), nullable=False),
        sa.ForeignKeyConstraint(["lot_id"], ["lot.id"], name=op.f("fk_lot_status_change_lot_id_lot")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lot_status_change")),
    )
    op.create_index(op.f("ix_lot_status_change_lot_id"), "lot_status_change", ["lot_id"])
    op.create_table(
        "material_consumption",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("batch_id", sa.String(36), nullable=False),
        sa.Column("step_path", sa.String(200), nullable=False),
        sa.Column("lot_id", sa.String(36), nullable=False),
        sa.Column("container", sa.String(64), nullable=True),
        sa.Column("quantity", Q(), nullable=False),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("consumed_at", T(), nullable=False),
        sa.Column("consumed_by", sa.String(100), nullable=False),
        sa.ForeignKeyConstraint(["lot_id"], ["lot.id"], name=op.f("fk_material_consumption_lot_id_lot")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_material_consumption")),
    )
    op.create_index(op.f("ix_material_consumption_batch_id"), "material_consumption", ["batch_id"])
    op.create_index(op.f("ix_material_consumption_lot_id"), "material_consumption", ["lot_id"])


def _batches() -> None:
    op.create_table(
        "batch",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("production_order", sa.String(64), nullable=False),
        sa.Column("recipe_name", sa.String(100), nullable=False),
        sa.Column("recipe_version", sa.String(32), nullable=False),
        sa.Column("product_code", sa.String(64), nullable=False),
        sa.Column("size", Q(), nullable=False),
        sa.Column("size_unit", sa.String(16), nullable=False),
        sa.Column("control_recipe", sa.JSON(), nullable=False),
        sa.Column("control_recipe_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("output_lot_id", sa.String(36), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("started_at", T(), nullable=True),
        sa.Column("ended_at", T(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch")),
        sa.UniqueConstraint("number", name=op.f("uq_batch_number")),
    )
    op.create_index(op.f("ix_batch_production_order"), "batch", ["production_order"])
    op.create_index(op.f("ix_batch_status"), "batch", ["status"])
    op.create_table(
        "batch_step",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("batch_id", sa.String(36), nullable=False),
        sa.Column("path", sa.String(200), nullable=False),
        sa.Column("parent", sa.String(200), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("phase_type", sa.String(32), nullable=True),
        sa.Column("unit", sa.String(64), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("ready", sa.Boolean(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("started_at", T(), nullable=True),
        sa.Column("started_by", sa.String(100), nullable=True),
        sa.Column("ended_at", T(), nullable=True),
        sa.Column("ended_by", sa.String(100), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["batch.id"], name=op.f("fk_batch_step_batch_id_batch")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_step")),
    )
    op.create_index("ix_batch_step_batch_path", "batch_step", ["batch_id", "path"], unique=True)
    op.create_index("ix_batch_step_batch_parent", "batch_step", ["batch_id", "parent"])


def _records() -> None:
    op.create_table(
        "step_entry",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("batch_id", sa.String(36), nullable=False),
        sa.Column("step_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("unit", sa.String(16), nullable=True),
        sa.Column("in_limits", sa.Boolean(), nullable=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("recorded_at", T(), nullable=False),
        sa.Column("recorded_by", sa.String(100), nullable=False),
        sa.Column("corrects", sa.String(36), nullable=True),
        sa.Column("correction_reason", sa.Text(), nullable=True),
        sa.Column("superseded_at", T(), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["batch.id"], name=op.f("fk_step_entry_batch_id_batch")),
        sa.ForeignKeyConstraint(["step_id"], ["batch_step.id"], name=op.f("fk_step_entry_step_id_batch_step")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_entry")),
    )
    op.create_index(op.f("ix_step_entry_batch_id"), "step_entry", ["batch_id"])
    op.create_index(op.f("ix_step_entry_step_id"), "step_entry", ["step_id"])
    op.create_table(
        "deviation",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("batch_id", sa.String(36), nullable=False),
        sa.Column("step_path", sa.String(200), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("investigation_ref", sa.String(100), nullable=True),
        sa.Column("opened_at", T(), nullable=False),
        sa.Column("opened_by", sa.String(100), nullable=False),
        sa.Column("closed_at", T(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["batch.id"], name=op.f("fk_deviation_batch_id_batch")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deviation")),
        sa.UniqueConstraint("number", name=op.f("uq_deviation_number")),
    )
    op.create_index(op.f("ix_deviation_batch_id"), "deviation", ["batch_id"])
    op.create_table(
        "record_signature",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("batch_id", sa.String(36), nullable=False),
        sa.Column("subject_type", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(36), nullable=False),
        sa.Column("meaning", sa.String(20), nullable=False),
        sa.Column("signer", sa.String(100), nullable=False),
        sa.Column("signature_id", sa.String(36), nullable=False),
        sa.Column("signed_at", T(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["batch.id"], name=op.f("fk_record_signature_batch_id_batch")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_signature")),
    )
    op.create_index(op.f("ix_record_signature_batch_id"), "record_signature", ["batch_id"])
    op.create_index("ix_record_signature_subject", "record_signature", ["subject_type", "subject_id"])


def upgrade() -> None:
    _materials()
    _batches()
    _records()


def downgrade() -> None:
    for table in (
        "record_signature",
        "deviation",
        "step_entry",
        "batch_step",
        "batch",
        "material_consumption",
        "lot_status_change",
        "container",
        "lot",
        "material",
    ):
        op.drop_table(table)
