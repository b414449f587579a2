"""signatures: failed login and signing attempts per client and per user id (throttling).

Revision ID: signatures_0003_auth_throttle
Revises: signatures_0002_identity_check
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ebr.db

revision: str = "signatures_0003_auth_throttle"
down_revision: str | Sequence[str] | None = "signatures_0002_identity_check"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "auth_throttle",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("window_start", ebr.db.UTCDateTime(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_auth_throttle")),
    )


def downgrade() -> None:
    op.drop_table("auth_throttle")
