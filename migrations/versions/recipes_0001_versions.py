"""recipes: master recipe versions.

Revision ID: recipes_0001_versions
Revises: 0001_base
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ebr.core.db

revision: str = "recipes_0001_versions"
down_revision: str | Sequence[str] | None = "0001_base"
branch_labels: str | Sequence[str] | None = ("recipes",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recipe_version",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("product_code", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("source_format", sa.String(length=40), nullable=False),
        sa.Column("unmapped", sa.Text(), nullable=True),
        sa.Column("created_at", ebr.core.db.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("submitted_at", ebr.core.db.UTCDateTime(), nullable=True),
        sa.Column("submitted_by", sa.String(length=100), nullable=True),
        sa.Column("submit_signature_id", sa.String(length=64), nullable=True),
        sa.Column("approved_at", ebr.core.db.UTCDateTime(), nullable=True),
        sa.Column("approved_by", sa.String(length=100), nullable=True),
        sa.Column("approval_signature_id", sa.String(length=64), nullable=True),
        sa.Column("effective_from", ebr.core.db.UTCDateTime(), nullable=True),
        sa.Column("retired_at", ebr.core.db.UTCDateTime(), nullable=True),
        sa.Column("retired_by", sa.String(length=100), nullable=True),
        sa.Column("retire_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recipe_version")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_recipe_version_name_version")),
    )


def downgrade() -> None:
    op.drop_table("recipe_version")
