"""audit: the chain link made by PostgreSQL in the commit's own message (``audit_chain``).

Revision ID: audit_0004_commit_chain
Revises: audit_0003_merkle
Create Date: 2026-12-05

``audit_chain(...)`` appends a transaction's events under the chain's advisory lock:
it reads the head after the lock, gives each event the next seq, the time of the
database server's clock (never earlier than the head's; or the time the application
passed, for an injected clock), the head's hash as prev, completes the canonical bytes
the application built around those three values (docs/audit.md, "Appending") and
stores them with their SHA-256. ``audit.trail`` calls it in the same message as COMMIT,
so the lock is held only while the server runs that message. SQLite has no functions
of this kind and keeps appending from the application under its write lock.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "audit_0004_commit_chain"
down_revision: str | Sequence[str] | None = "audit_0003_merkle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SIGNATURE = "audit_chain(bytea[], bytea[], text[], text[], text[], text[], text[], timestamptz[])"
PG_FUNCTION = """
CREATE FUNCTION audit_chain(
    heads bytea[], middles bytea[], actors text[], actions text[], entity_types text[], entity_ids text[],
    reasons text[], stamps timestamptz[]
) RETURNS TABLE (seq bigint, ts timestamptz, prev text, hash text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    head_seq bigint;
    head_hash text;
    head_ts timestamptz;
    stamp timestamptz;
    data bytea;
BEGIN
    PERFORM pg_advisory_xact_lock(76151150171460);  -- audit.trail.CHAIN_LOCK_KEY
    SELECT e.seq, e.hash, e.ts INTO head_seq, head_hash, head_ts FROM audit_event e ORDER BY e.seq DESC LIMIT 1;
    IF head_seq IS NULL THEN
        head_seq := 0;
        head_hash := repeat('0', 64);
    END IF;
    FOR i IN 1 .. coalesce(array_length(heads, 1), 0) LOOP
        stamp := coalesce(stamps[i], greatest(clock_timestamp(), head_ts));
        data := heads[i] || convert_to(head_hash, 'UTF8') || middles[i]
            || convert_to((head_seq + 1)::text || ',"ts":"'
                          || to_char(stamp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '"}', 'UTF8');
        seq := head_seq + 1;
        ts := stamp;
        prev := head_hash;
        hash := encode(sha256(data), 'hex');
        INSERT INTO audit_event (seq, ts, actor, action, entity_type, entity_id, reason, prev, hash, canonical)
        VALUES (seq, stamp, actors[i], actions[i], entity_types[i], entity_ids[i], reasons[i], prev, hash, data);
        head_seq := seq;
        head_hash := hash;
        head_ts := stamp;
        RETURN NEXT;
    END LOOP;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {SIGNATURE}")
