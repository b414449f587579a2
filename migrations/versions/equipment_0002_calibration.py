"""equipment: calibration details (as found / as left, who did it) and maintenance records.

Revision ID: equipment_0002_calibration
Revises: equipment_0001_plant
Create Date: 2026-12-05

Existing calibrations get empty as-found/as-left and ``performed_by`` = the person who
recorded them (internal), which is what the records said until now.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ebr.core.db

revision: str = "equipment_0002_calibration"
down_revision: str | Sequence[str] | None = "equipment_0001_plant"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("equipment_calibration") as batch:
        batch.add_column(sa.Column("as_found", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("as_left", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("performed_by", sa.String(length=200), nullable=False, server_default=""))
        batch.add_column(sa.Column("contractor", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute("UPDATE equipment_calibration SET performed_by = actor")
    op.create_table(
        "equipment_maintenance",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("equipment_id", sa.String(length=36), nullable=False),
        sa.Column("performed_at", ebr.core.db.UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("performed_by", sa.String(length=200), nullable=False),
        sa.Column("contractor", sa.Boolean(), nullable=False),
        sa.Column("returned_to_service", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["equipment_id"], ["equipment.id"], name=op.f("fk_equipment_maintenance_equipment_id_equipment")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equipment_maintenance")),
    )
    op.create_index(op.f("ix_equipment_maintenance_equipment_id"), "equipment_maintenance", ["equipment_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_equipment_maintenance_equipment_id"), table_name="equipment_maintenance")
    op.drop_table("equipment_maintenance")
    with op.batch_alter_table("equipment_calibration") as batch:
        batch.drop_column("contractor")
        batch.drop_column("performed_by")
        batch.drop_column("as_left")
        batch.drop_column("as_found")
