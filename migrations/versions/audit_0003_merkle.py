"""audit: Merkle tree nodes (RFC 9162) and signed tree heads (the root hash of a checkpoint).

Revision ID: audit_0003_merkle
Revises: audit_0002_append_only
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "audit_0003_merkle"
down_revision: str | Sequence[str] | None = "audit_0002_append_only"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "audit_tree_node"


def upgrade() -> None:
    # NULL for the v1 checkpoints signed before this revision (they sign the chain head only).
    op.add_column("audit_checkpoint", sa.Column("root_hash", sa.String(length=64), nullable=True))
    op.create_table(
        TABLE,
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("idx", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_audit_tree_node")),
    )
    # Append-only like the rest of the trail (audit_refuse_change() comes from audit_0002).
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()"
        )
        return
    for verb in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER {TABLE}_no_{verb.lower()} BEFORE {verb} ON {TABLE} BEGIN "
            f"SELECT RAISE(ABORT, 'table {TABLE} is append-only: {verb} refused "
            "(the audit trail cannot be rewritten)'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}")
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE}")
    op.drop_table(TABLE)
    with op.batch_alter_table("audit_checkpoint") as batch:
        batch.drop_column("root_hash")
