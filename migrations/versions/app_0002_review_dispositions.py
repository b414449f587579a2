"""app: QA's disposition of each review exception of a batch.

Revision ID: app_0002_review_dispositions
Revises: app_0001_execution
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ebr.core.db

revision: str = "app_0002_review_dispositions"
down_revision: str | Sequence[str] | None = "app_0001_execution"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

T = ebr.core.db.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "review_disposition",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("batch_id", sa.String(36), nullable=False),
        sa.Column("item_key", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("dispositioned_at", T(), nullable=False),
        sa.Column("dispositioned_by", sa.String(100), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["batch.id"], name=op.f("fk_review_disposition_batch_id_batch")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_disposition")),
    )
    op.create_index("ix_review_disposition_batch_item", "review_disposition", ["batch_id", "item_key"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_review_disposition_batch_item", table_name="review_disposition")
    op.drop_table("review_disposition")
