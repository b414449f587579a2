"""integration: an inbound message's attempts, written before each runs (a killed consumer's count survives).

Revision ID: integration_0005_attempts
Revises: integration_0004_dead_letters
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ebr.core.db

revision: str = "integration_0005_attempts"
down_revision: str | Sequence[str] | None = "integration_0004_dead_letters"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "integration_inbound_attempt",
        sa.Column("queue", sa.String(200), nullable=False),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("running", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", ebr.core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("queue", "key", name=op.f("pk_integration_inbound_attempt")),
    )


def downgrade() -> None:
    op.drop_table("integration_inbound_attempt")
