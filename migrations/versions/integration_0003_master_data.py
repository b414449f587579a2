"""integration: the ERP's view of materials and lots (master data and inventory from the ERP).

Revision ID: integration_0003_master_data
Revises: integration_0002_api_tokens
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ebr.core.db

revision: str = "integration_0003_master_data"
down_revision: str | Sequence[str] | None = "integration_0002_api_tokens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Q = ebr.core.db.Quantity
T = ebr.core.db.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "integration_erp_material",
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("revision", sa.String(64), nullable=True),
        sa.Column("issued_at", T(), nullable=False),
        sa.Column("message_id", sa.String(200), nullable=False),
        sa.Column("descriptions", sa.JSON(), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("updated_at", T(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_integration_erp_material")),
    )
    op.create_table(
        "integration_erp_lot",
        sa.Column("lot_number", sa.String(64), nullable=False),
        sa.Column("lot_id", sa.String(36), nullable=False),
        sa.Column("material", sa.String(64), nullable=False),
        sa.Column("revision", sa.String(64), nullable=True),
        sa.Column("issued_at", T(), nullable=False),
        sa.Column("message_id", sa.String(200), nullable=False),
        sa.Column("status", sa.String(64), nullable=True),
        sa.Column("disposition", sa.String(64), nullable=True),
        sa.Column("quantity", Q(), nullable=True),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("sublots", sa.JSON(), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("updated_at", T(), nullable=False),
        sa.PrimaryKeyConstraint("lot_number", name=op.f("pk_integration_erp_lot")),
    )
    op.create_index(op.f("ix_integration_erp_lot_lot_id"), "integration_erp_lot", ["lot_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_integration_erp_lot_lot_id"), table_name="integration_erp_lot")
    op.drop_table("integration_erp_lot")
    op.drop_table("integration_erp_material")
