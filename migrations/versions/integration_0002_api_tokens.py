"""integration: machine tokens grow into API tokens (owner, scopes, expiry).

Revision ID: integration_0002_api_tokens
Revises: integration_0001_messages
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ebr.core.db

revision: str = "integration_0002_api_tokens"
down_revision: str | Sequence[str] | None = "integration_0001_messages"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("integration_token") as batch:
        batch.add_column(sa.Column("owner", sa.String(100), nullable=True))
        batch.add_column(sa.Column("scopes", sa.Text(), nullable=True))
        batch.add_column(sa.Column("expires_at", ebr.core.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("integration_token") as batch:
        batch.drop_column("expires_at")
        batch.drop_column("scopes")
        batch.drop_column("owner")
