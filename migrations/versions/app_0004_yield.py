"""app: returned and wasted quantities per container, for the material reconciliation of a batch.

Revision ID: app_0004_yield
Revises: app_0003_sample_results
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ebr.core.db

revision: str = "app_0004_yield"
down_revision: str | Sequence[str] | None = "app_0003_sample_results"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Q = ebr.core.db.Quantity
T = ebr.core.db.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "material_return",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("batch_id", sa.String(36), nullable=False),
        sa.Column("container", sa.String(64), nullable=False),
        sa.Column("returned", Q(), nullable=False),
        sa.Column("waste", Q(), nullable=False),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("recorded_at", T(), nullable=False),
        sa.Column("recorded_by", sa.String(100), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["batch.id"], name=op.f("fk_material_return_batch_id_batch")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_material_return")),
    )
    op.create_index("ix_material_return_batch_container", "material_return", ["batch_id", "container"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_material_return_batch_container", table_name="material_return")
    op.drop_table("material_return")
