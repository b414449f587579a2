"""materials: the material master's storage, retest and label fields; goods receipt and sampling.

Revision ID: materials_0001_master_receipt
(not "materials_0001_master_and_receipt": 33 characters, alembic_version holds 32)
Revises: 0001_base
Depends on: app_0001_execution (which created material, lot and container)
Create Date: 2026-12-05

New columns of existing rows get a server default (or are nullable) so an
installation with lots upgrades in place: a lot received before this revision has
no supplier, receipt or retest date, and its containers no received quantity.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ebr.core.db

revision: str = "materials_0001_master_receipt"
down_revision: str | Sequence[str] | None = "0001_base"
branch_labels: str | Sequence[str] | None = ("materials",)
depends_on: str | Sequence[str] | None = "app_0001_execution"

Q = ebr.core.db.Quantity
T = ebr.core.db.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("material") as batch:
        batch.add_column(sa.Column("storage", sa.String(200), nullable=False, server_default=""))
        batch.add_column(sa.Column("retest_interval_days", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("potency_applies", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("label_text", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("lot") as batch:
        batch.add_column(sa.Column("supplier", sa.String(200), nullable=True))
        batch.add_column(sa.Column("supplier_lot", sa.String(64), nullable=True))
        batch.add_column(sa.Column("received_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("retest_on", sa.Date(), nullable=True))
    with op.batch_alter_table("container") as batch:
        batch.add_column(sa.Column("received_quantity", Q(), nullable=True))
    op.create_table(
        "lot_sample",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("lot_id", sa.String(36), nullable=False),
        sa.Column("container", sa.String(64), nullable=False),
        sa.Column("quantity", Q(), nullable=False),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("taken_at", T(), nullable=False),
        sa.Column("taken_by", sa.String(100), nullable=False),
        sa.ForeignKeyConstraint(["lot_id"], ["lot.id"], name=op.f("fk_lot_sample_lot_id_lot")),
        sa.ForeignKeyConstraint(["container"], ["container.barcode"], name=op.f("fk_lot_sample_container_container")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lot_sample")),
    )
    op.create_index(op.f("ix_lot_sample_lot_id"), "lot_sample", ["lot_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_lot_sample_lot_id"), table_name="lot_sample")
    op.drop_table("lot_sample")
    with op.batch_alter_table("container") as batch:
        batch.drop_column("received_quantity")
    with op.batch_alter_table("lot") as batch:
        for name in ("retest_on", "received_on", "supplier_lot", "supplier"):
            batch.drop_column(name)
    with op.batch_alter_table("material") as batch:
        for name in ("label_text", "potency_applies", "retest_interval_days", "storage"):
            batch.drop_column(name)
