"""integration: inbound messages dead-lettered after their last failed attempt.

Revision ID: integration_0004_dead_letters
Revises: integration_0003_master_data
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ebr.core.db

revision: str = "integration_0004_dead_letters"
down_revision: str | Sequence[str] | None = "integration_0003_master_data"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "integration_dead_letter",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("queue", sa.String(200), nullable=False),
        sa.Column("message_id", sa.String(200), nullable=True),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("dead_at", ebr.core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_dead_letter")),
    )
    op.create_index(op.f("ix_integration_dead_letter_message_id"), "integration_dead_letter", ["message_id"])
    op.create_index(op.f("ix_integration_dead_letter_dead_at"), "integration_dead_letter", ["dead_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_integration_dead_letter_dead_at"), table_name="integration_dead_letter")
    op.drop_index(op.f("ix_integration_dead_letter_message_id"), table_name="integration_dead_letter")
    op.drop_table("integration_dead_letter")
