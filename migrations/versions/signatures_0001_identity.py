"""signatures: users, password history, signing keys, signatures, web sessions.

Revision ID: signatures_0001_identity
Revises: 0001_base
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ebr.core.db

revision: str = "signatures_0001_identity"
down_revision: str | Sequence[str] | None = "0001_base"
branch_labels: str | Sequence[str] | None = ("signatures",)
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = "signature records are append-only: UPDATE and DELETE are refused"


def _append_only_triggers() -> None:
    # Signatures, like the audit trail, are never changed or removed (21 CFR 11.70).
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER signature_no_{verb.lower()} BEFORE {verb} ON signature "
                f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
            )
        return
    op.execute(
        "CREATE FUNCTION signature_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END $$"
    )
    op.execute(
        "CREATE TRIGGER signature_append_only BEFORE UPDATE OR DELETE ON signature "
        "FOR EACH ROW EXECUTE FUNCTION signature_append_only()"
    )
    op.execute(
        "CREATE TRIGGER signature_no_truncate BEFORE TRUNCATE ON signature "
        "FOR EACH STATEMENT EXECUTE FUNCTION signature_append_only()"
    )


def upgrade() -> None:
    op.create_table(
        "user_account",
        sa.Column("user_id", sa.String(length=100), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("roles", sa.String(length=400), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("password_changed_at", ebr.core.db.UTCDateTime(), nullable=True),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("accountability_accepted_at", ebr.core.db.UTCDateTime(), nullable=True),
        sa.Column("created_at", ebr.core.db.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_account")),
    )
    op.create_table(
        "password_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("set_at", ebr.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.user_id"], name=op.f("fk_password_history_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_history")),
    )
    op.create_index("ix_password_history_user", "password_history", ["user_id"])
    op.create_table(
        "signing_key",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=100), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("salt", sa.LargeBinary(), nullable=False),
        sa.Column("kdf", sa.String(length=100), nullable=False),
        sa.Column("valid_from", ebr.core.db.UTCDateTime(), nullable=False),
        sa.Column("valid_to", ebr.core.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.user_id"], name=op.f("fk_signing_key_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_signing_key")),
    )
    op.create_index("ix_signing_key_user", "signing_key", ["user_id"])
    op.create_table(
        "signature",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("signer", sa.String(length=100), nullable=False),
        sa.Column("meaning", sa.String(length=20), nullable=False),
        sa.Column("ts", ebr.core.db.UTCDateTime(), nullable=False),
        sa.Column("subject_type", sa.String(length=100), nullable=False),
        sa.Column("subject_id", sa.String(length=400), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("record", sa.LargeBinary(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["key_id"], ["signing_key.key_id"], name=op.f("fk_signature_key_id_signing_key")),
        sa.ForeignKeyConstraint(["signer"], ["user_account.user_id"], name=op.f("fk_signature_signer_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signature")),
    )
    op.create_index("ix_signature_subject", "signature", ["subject_type", "subject_id"])
    _append_only_triggers()
    op.create_table(
        "user_session",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=100), nullable=False),
        sa.Column("started_at", ebr.core.db.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", ebr.core.db.UTCDateTime(), nullable=False),
        sa.Column("ended_at", ebr.core.db.UTCDateTime(), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.user_id"], name=op.f("fk_user_session_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_user_session")),
    )
    op.create_index("ix_user_session_user", "user_session", ["user_id"])


def downgrade() -> None:
    op.drop_table("user_session")
    op.drop_table("signature")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION signature_append_only()")
    op.drop_table("signing_key")
    op.drop_table("password_history")
    op.drop_table("user_account")
