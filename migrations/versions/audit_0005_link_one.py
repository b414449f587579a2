"""audit: ``audit_link`` chains one event; ``audit_chain`` chains several by calling it.

Revision ID: audit_0005_link_one
Revises: audit_0004_commit_chain
Create Date: 2026-12-05

Most transactions record one event. ``audit_link(...)`` takes that event's values as
scalars and returns its place in the chain as OUT parameters, so the commit message
carries no array literals to parse and the function builds no result set: about 40 µs
less a commit than ``audit_chain`` for one event (docs/audit.md, "Performance"). The
rules are those of ``audit_0004_commit_chain`` and live only here now: the chain's
advisory lock (re-entrant within the transaction), the head read after it, seq = head
+ 1, the server's clock never earlier than the head's (or the stamp the application
passed), the canonical bytes completed and hashed, the INSERT. ``audit_chain`` keeps its
signature for transactions with several events and calls ``audit_link`` per event; each
call reads the head its predecessor inserted.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "audit_0005_link_one"
down_revision: str | Sequence[str] | None = "audit_0004_commit_chain"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LINK_SIGNATURE = "audit_link(bytea, bytea, text, text, text, text, text, timestamptz)"
CHAIN_SIGNATURE = "audit_chain(bytea[], bytea[], text[], text[], text[], text[], text[], timestamptz[])"
LINK = """
CREATE FUNCTION audit_link(
    head bytea, middle bytea, actor text, action text, entity_type text, entity_id text, reason text,
    stamp timestamptz, OUT seq bigint, OUT ts timestamptz, OUT prev text, OUT hash text
) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    head_ts timestamptz;
    data bytea;
BEGIN
    PERFORM pg_advisory_xact_lock(76151150171460);  -- audit.trail.CHAIN_LOCK_KEY
    SELECT e.seq, e.hash, e.ts INTO seq, prev, head_ts FROM audit_event e ORDER BY e.seq DESC LIMIT 1;
    seq := coalesce(seq, 0) + 1;
    prev := coalesce(prev, repeat('0', 64));
    ts := coalesce(stamp, greatest(clock_timestamp(), head_ts));
    data := head || convert_to(prev, 'UTF8') || middle
        || convert_to(seq::text || ',"ts":"'
                      || to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '"}', 'UTF8');
    hash := encode(sha256(data), 'hex');
    INSERT INTO audit_event (seq, ts, actor, action, entity_type, entity_id, reason, prev, hash, canonical)
    VALUES (seq, ts, actor, action, entity_type, entity_id, reason, prev, hash, data);
END
$$
"""
CHAIN = """
CREATE OR REPLACE FUNCTION audit_chain(
    heads bytea[], middles bytea[], actors text[], actions text[], entity_types text[], entity_ids text[],
    reasons text[], stamps timestamptz[]
) RETURNS TABLE (seq bigint, ts timestamptz, prev text, hash text)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    FOR i IN 1 .. coalesce(array_length(heads, 1), 0) LOOP
        SELECT l.seq, l.ts, l.prev, l.hash INTO seq, ts, prev, hash
        FROM audit_link(heads[i], middles[i], actors[i], actions[i], entity_types[i], entity_ids[i],
                        reasons[i], stamps[i]) l;
        RETURN NEXT;
    END LOOP;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(LINK)
        op.execute(CHAIN)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {CHAIN_SIGNATURE}")
        script = op.get_context().script  # the previous body is the previous revision's to keep
        assert script is not None
        op.execute(script.get_revision("audit_0004_commit_chain").module.PG_FUNCTION)
        op.execute(f"DROP FUNCTION IF EXISTS {LINK_SIGNATURE}")
