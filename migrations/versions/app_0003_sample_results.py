"""app: QC results of samples taken in batch steps.

Revision ID: app_0003_sample_results
Revises: app_0002_review_dispositions
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ebr.core.db

revision: str = "app_0003_sample_results"
down_revision: str | Sequence[str] | None = "app_0002_review_dispositions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Q = ebr.core.db.Quantity
T = ebr.core.db.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "sample_result",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("batch_id", sa.String(36), nullable=False),
        sa.Column("step_id", sa.String(36), nullable=False),
        sa.Column("sample_id", sa.String(100), nullable=False),
        sa.Column("test", sa.String(100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("unit", sa.String(16), nullable=True),
        sa.Column("low", Q(), nullable=True),
        sa.Column("high", Q(), nullable=True),
        sa.Column("in_spec", sa.Boolean(), nullable=True),
        sa.Column("deviation", sa.String(64), nullable=True),
        sa.Column("entered_at", T(), nullable=False),
        sa.Column("entered_by", sa.String(100), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["batch.id"], name=op.f("fk_sample_result_batch_id_batch")),
        sa.ForeignKeyConstraint(["step_id"], ["batch_step.id"], name=op.f("fk_sample_result_step_id_batch_step")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sample_result")),
    )
    op.create_index(op.f("ix_sample_result_batch_id"), "sample_result", ["batch_id"])
    op.create_index(op.f("ix_sample_result_sample_id"), "sample_result", ["sample_id"])
    op.create_index("ix_sample_result_step_test", "sample_result", ["step_id", "test"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_sample_result_step_test", table_name="sample_result")
    op.drop_index(op.f("ix_sample_result_sample_id"), table_name="sample_result")
    op.drop_index(op.f("ix_sample_result_batch_id"), table_name="sample_result")
    op.drop_table("sample_result")
