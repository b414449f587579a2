"""analytics: declared parameters and their sources, reference batches, trend notifications.

Revision ID: analytics_0001_cpv
Revises: 0001_base
Create Date: 2026-12-05

``batch_id`` columns name a row of the app branch's ``batch`` table without a
foreign key: with ``depends_on`` Alembic records only this branch's head in the
version table and ``ebr db current`` would report the app branch as behind.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ebr.core.db

revision: str = "analytics_0001_cpv"
down_revision: str | Sequence[str] | None = "0001_base"
branch_labels: str | Sequence[str] | None = ("analytics",)
depends_on: str | Sequence[str] | None = None

Q = ebr.core.db.Quantity
T = ebr.core.db.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "analytics_parameter",
        sa.Column("id", sa.String(100), nullable=False),
        sa.Column("product_code", sa.String(64), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("unit", sa.String(16), nullable=True),
        sa.Column("critical", sa.Boolean(), nullable=False),
        sa.Column("lsl", Q(), nullable=True),
        sa.Column("usl", Q(), nullable=True),
        sa.Column("ruleset", sa.String(32), nullable=False),
        sa.Column("baseline", sa.JSON(), nullable=True),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_parameter")),
    )
    op.create_index(op.f("ix_analytics_parameter_product_code"), "analytics_parameter", ["product_code"])
    op.create_table(
        "analytics_parameter_source",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("parameter_id", sa.String(100), nullable=False),
        sa.Column("recipe_name", sa.String(100), nullable=False),
        sa.Column("recipe_version", sa.String(32), nullable=False),
        sa.Column("step_path", sa.String(200), nullable=False),
        sa.Column("entry_name", sa.String(100), nullable=False),
        sa.ForeignKeyConstraint(
            ["parameter_id"],
            ["analytics_parameter.id"],
            name=op.f("fk_analytics_parameter_source_parameter_id_analytics_parameter"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_parameter_source")),
    )
    op.create_index(
        "ix_analytics_parameter_source_key",
        "analytics_parameter_source",
        ["parameter_id", "recipe_name", "recipe_version"],
        unique=True,
    )
    op.create_table(
        "analytics_reference_batch",
        sa.Column("batch_id", sa.String(36), nullable=False),
        sa.Column("product_code", sa.String(64), nullable=False),
        sa.Column("marked_at", T(), nullable=False),
        sa.Column("marked_by", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_analytics_reference_batch")),
    )
    op.create_index(op.f("ix_analytics_reference_batch_product_code"), "analytics_reference_batch", ["product_code"])
    op.create_table(
        "analytics_trend_notification",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("parameter_id", sa.String(100), nullable=False),
        sa.Column("batch_id", sa.String(36), nullable=False),
        sa.Column("batch_number", sa.String(64), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("chart_svg", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opened_at", T(), nullable=False),
        sa.Column("opened_by", sa.String(100), nullable=False),
        sa.Column("assessment", sa.Text(), nullable=True),
        sa.Column("conclusion", sa.String(32), nullable=True),
        sa.Column("assessed_by", sa.String(100), nullable=True),
        sa.Column("assessed_at", T(), nullable=True),
        sa.Column("signature_id", sa.String(36), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parameter_id"],
            ["analytics_parameter.id"],
            name=op.f("fk_analytics_trend_notification_parameter_id_analytics_parameter"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_trend_notification")),
        sa.UniqueConstraint("number", name=op.f("uq_analytics_trend_notification_number")),
    )
    for column in ("parameter_id", "batch_id", "status"):
        op.create_index(op.f(f"ix_analytics_trend_notification_{column}"), "analytics_trend_notification", [column])
    op.create_table(
        "analytics_evaluated_batch",
        sa.Column("batch_id", sa.String(36), nullable=False),
        sa.Column("evaluated_at", T(), nullable=False),
        sa.Column("notifications", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_analytics_evaluated_batch")),
    )


def downgrade() -> None:
    for table in (
        "analytics_evaluated_batch",
        "analytics_trend_notification",
        "analytics_reference_batch",
        "analytics_parameter_source",
        "analytics_parameter",
    ):
        op.drop_table(table)
