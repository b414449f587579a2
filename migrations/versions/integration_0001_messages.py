"""integration: inbound message log, process orders, transactional outbox, machine tokens.

Revision ID: integration_0001_messages
Revises: 0001_base
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ebr.core.db

revision: str = "integration_0001_messages"
down_revision: str | Sequence[str] | None = "0001_base"
branch_labels: str | Sequence[str] | None = ("integration",)
depends_on: str | Sequence[str] | None = None

Q = ebr.core.db.Quantity
T = ebr.core.db.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "integration_inbound",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("message_id", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("schema", sa.String(16), nullable=False),
        sa.Column("verb", sa.String(32), nullable=False),
        sa.Column("noun", sa.String(64), nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("orders", sa.JSON(), nullable=False),
        sa.Column("acknowledgement", sa.Text(), nullable=False),
        sa.Column("received_at", T(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_inbound")),
        sa.UniqueConstraint("message_id", name=op.f("uq_integration_inbound_message_id")),
    )
    op.create_index(op.f("ix_integration_inbound_received_at"), "integration_inbound", ["received_at"])
    op.create_table(
        "integration_order",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("schema", sa.String(16), nullable=False),
        sa.Column("revision", sa.String(64), nullable=True),
        sa.Column("issued_at", T(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("hold_reason", sa.Text(), nullable=True),
        sa.Column("product", sa.String(64), nullable=False),
        sa.Column("quantity", Q(), nullable=False),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("start_time", T(), nullable=True),
        sa.Column("end_time", T(), nullable=True),
        sa.Column("priority", sa.String(32), nullable=True),
        sa.Column("bom", sa.JSON(), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("batch_id", sa.String(36), nullable=True),
        sa.Column("batch_number", sa.String(64), nullable=True),
        sa.Column("message_id", sa.String(200), nullable=False),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("updated_at", T(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_order")),
        sa.UniqueConstraint("order_id", name=op.f("uq_integration_order_order_id")),
    )
    op.create_index(op.f("ix_integration_order_status"), "integration_order", ["status"])
    op.create_index(op.f("ix_integration_order_batch_number"), "integration_order", ["batch_number"])
    op.create_table(
        "integration_outbox",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("content_type", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("order_id", sa.String(64), nullable=True),
        sa.Column("batch_number", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", T(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("sent_at", T(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_outbox")),
        sa.UniqueConstraint("message_id", name=op.f("uq_integration_outbox_message_id")),
    )
    op.create_index("ix_integration_outbox_due", "integration_outbox", ["status", "next_attempt_at"])
    op.create_index(op.f("ix_integration_outbox_batch_number"), "integration_outbox", ["batch_number"])
    op.create_table(
        "integration_token",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("revoked_at", T(), nullable=True),
        sa.Column("revoked_by", sa.String(100), nullable=True),
        sa.Column("last_used_at", T(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_token")),
        sa.UniqueConstraint("name", name=op.f("uq_integration_token_name")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_integration_token_token_sha256")),
    )


def downgrade() -> None:
    op.drop_table("integration_token")
    op.drop_index(op.f("ix_integration_outbox_batch_number"), table_name="integration_outbox")
    op.drop_index("ix_integration_outbox_due", table_name="integration_outbox")
    op.drop_table("integration_outbox")
    op.drop_index(op.f("ix_integration_order_batch_number"), table_name="integration_order")
    op.drop_index(op.f("ix_integration_order_status"), table_name="integration_order")
    op.drop_table("integration_order")
    op.drop_index(op.f("ix_integration_inbound_received_at"), table_name="integration_inbound")
    op.drop_table("integration_inbound")
