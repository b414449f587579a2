"""ops: the scheduler's tables (APScheduler job store, run ledger, heartbeats).

Revision ID: ops_0001_scheduler
Revises: 0001_base
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ebr.core.db

revision: str = "ops_0001_scheduler"
down_revision: str | Sequence[str] | None = "0001_base"
branch_labels: str | Sequence[str] | None = ("ops",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Exactly APScheduler 3's SQLAlchemyJobStore table (apscheduler/jobstores/sqlalchemy.py).
    op.create_table(
        "apscheduler_jobs",
        sa.Column("id", sa.Unicode(length=191), nullable=False),
        sa.Column("next_run_time", sa.Float(precision=25), nullable=True),
        sa.Column("job_state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apscheduler_jobs")),
    )
    op.create_index("ix_apscheduler_jobs_next_run_time", "apscheduler_jobs", ["next_run_time"])
    op.create_table(
        "scheduled_job",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("last_slot", ebr.core.db.UTCDateTime(), nullable=True),
        sa.Column("last_started_at", ebr.core.db.UTCDateTime(), nullable=True),
        sa.Column("last_finished_at", ebr.core.db.UTCDateTime(), nullable=True),
        sa.Column("last_status", sa.String(length=20), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_result", sa.Text(), nullable=True),
        sa.Column("last_host", sa.String(length=200), nullable=True),
        sa.Column("runs", sa.BigInteger(), nullable=False),
        sa.Column("failures", sa.BigInteger(), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduled_job")),
    )
    op.create_table(
        "scheduler_heartbeat",
        sa.Column("process", sa.String(length=200), nullable=False),
        sa.Column("started_at", ebr.core.db.UTCDateTime(), nullable=False),
        sa.Column("seen_at", ebr.core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("process", name=op.f("pk_scheduler_heartbeat")),
    )


def downgrade() -> None:
    op.drop_table("scheduler_heartbeat")
    op.drop_table("scheduled_job")
    op.drop_index("ix_apscheduler_jobs_next_run_time", table_name="apscheduler_jobs")
    op.drop_table("apscheduler_jobs")
