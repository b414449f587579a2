"""performance: the state history of each unit (ISO 22400) and downtime reasons, both append-only.

Revision ID: performance_0001_states
Revises: 0001_base
Create Date: 2026-12-05

Units, areas and batches are named by text (tag, area name, batch number), without a
foreign key into other branches: the branch stays independent (see analytics_0001).
The trigger function is this branch's own, so no ``depends_on`` on the audit branch.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ebr.core.db

revision: str = "performance_0001_states"
down_revision: str | Sequence[str] | None = "0001_base"
branch_labels: str | Sequence[str] | None = ("performance",)
depends_on: str | Sequence[str] | None = None

T = ebr.core.db.UTCDateTime
TABLES = ("performance_state", "performance_reason")

PG_FUNCTION = """
CREATE FUNCTION performance_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'table % is append-only: % refused (the state history cannot be rewritten)',
        TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "performance_state",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("area", sa.String(100), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("batch_number", sa.String(64), nullable=True),
        sa.Column("step_path", sa.String(200), nullable=True),
        sa.Column("since", T(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("audit_seq", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_performance_state")),
    )
    op.create_index("ix_performance_state_unit_since", "performance_state", ["unit", "since"])
    op.create_index(op.f("ix_performance_state_area"), "performance_state", ["area"])
    op.create_index(op.f("ix_performance_state_batch_number"), "performance_state", ["batch_number"])
    op.create_table(
        "performance_reason",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("state_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(400), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("assigned_at", T(), nullable=False),
        sa.Column("assigned_by", sa.String(100), nullable=False),
        sa.ForeignKeyConstraint(
            ["state_id"], ["performance_state.id"], name=op.f("fk_performance_reason_state_id_performance_state")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_performance_reason")),
    )
    op.create_index(op.f("ix_performance_reason_state_id"), "performance_reason", ["state_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION performance_refuse_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION performance_refuse_change()"
            )
        return
    for table in TABLES:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} BEGIN "
                f"SELECT RAISE(ABORT, 'table {table} is append-only: {verb} refused "
                "(the state history cannot be rewritten)'); END"
            )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in reversed(TABLES):
        if postgres:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.drop_table(table)
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS performance_refuse_change()")
