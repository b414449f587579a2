"""app: the day's batch number counter (``batch_number``), so numbering needs no scan of ``batch``.

Existing installations: each day's counter starts at the highest number already given
that day, so the next batch continues the sequence and no number is given twice.

Revision ID: app_0005_batch_numbers
Revises: app_0004_yield
Create Date: 2026-12-05
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "app_0005_batch_numbers"
down_revision: str | Sequence[str] | None = "app_0004_yield"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NUMBER = re.compile(r"B(\d{8})-(\d+)")


def upgrade() -> None:
    counter = op.create_table(
        "batch_number",
        sa.Column("day", sa.String(8), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_batch_number")),
    )
    last: dict[str, int] = {}
    for (number,) in op.get_bind().execute(sa.text("SELECT number FROM batch")):
        found = _NUMBER.fullmatch(number)
        if found:
            day, n = found.group(1), int(found.group(2))
            last[day] = max(last.get(day, 0), n)
    if last:
        op.bulk_insert(counter, [{"day": day, "last": n} for day, n in sorted(last.items())])


def downgrade() -> None:
    op.drop_table("batch_number")
