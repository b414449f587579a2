"""training: curricula, requirements and training records signed by the trainee.

Revision ID: training_0001_records
Revises: 0001_base
Create Date: 2026-12-05

``trainee``, ``recorded_by`` and ``signature_id`` name rows of the signatures branch
without foreign keys, as the other branches do (the branches stay independent).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ebr.core.db

revision: str = "training_0001_records"
down_revision: str | Sequence[str] | None = "0001_base"
branch_labels: str | Sequence[str] | None = ("training",)
depends_on: str | Sequence[str] | None = None

T = ebr.core.db.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "training_curriculum",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("sops", sa.JSON(), nullable=False),
        sa.Column("validity_days", sa.Integer(), nullable=True),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_curriculum")),
        sa.UniqueConstraint("name", name=op.f("uq_training_curriculum_name")),
    )
    op.create_table(
        "training_requirement",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("curriculum_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=100), nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=True),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["curriculum_id"],
            ["training_curriculum.id"],
            name=op.f("fk_training_requirement_curriculum_id_training_curriculum"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_requirement")),
    )
    op.create_index(op.f("ix_training_requirement_curriculum_id"), "training_requirement", ["curriculum_id"])
    op.create_index("ix_training_requirement_kind_target", "training_requirement", ["kind", "target"])
    op.create_table(
        "training_record",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("curriculum_id", sa.String(length=36), nullable=False),
        sa.Column("trainee", sa.String(length=100), nullable=False),
        sa.Column("trainer", sa.String(length=200), nullable=False),
        sa.Column("trained_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("recorded_at", T(), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("signature_id", sa.String(length=36), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["curriculum_id"],
            ["training_curriculum.id"],
            name=op.f("fk_training_record_curriculum_id_training_curriculum"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_record")),
    )
    op.create_index("ix_training_record_trainee_curriculum", "training_record", ["trainee", "curriculum_id"])


def downgrade() -> None:
    op.drop_index("ix_training_record_trainee_curriculum", table_name="training_record")
    op.drop_table("training_record")
    op.drop_index("ix_training_requirement_kind_target", table_name="training_requirement")
    op.drop_index(op.f("ix_training_requirement_curriculum_id"), table_name="training_requirement")
    op.drop_table("training_requirement")
    op.drop_table("training_curriculum")
