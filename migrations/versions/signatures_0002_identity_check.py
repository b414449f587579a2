"""signatures: who verified each user's identity, when and how (21 CFR 11.100(b)).

Revision ID: signatures_0002_identity_check
Revises: signatures_0001_identity
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ebr.core.db

revision: str = "signatures_0002_identity_check"
down_revision: str | Sequence[str] | None = "signatures_0001_identity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(sa.Column("identity_verified_by", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("identity_verified_at", ebr.core.db.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("identity_check", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.drop_column("identity_check")
        batch.drop_column("identity_verified_at")
        batch.drop_column("identity_verified_by")
