"""Audited write vs plain write: what the hash chain costs a business transaction.

Each operation is one transaction that inserts one business row plus either its
chained audit event (``AuditTrail.record``: canonical bytes; on PostgreSQL linked into
the chain by ``audit_link`` in the COMMIT's own message, on SQLite under the write lock)
or an unchained log row of the same size (same columns, same bytes, same search
indexes, no chain), on the same database with the same durability settings. Cases: SQLite, PostgreSQL with
1 writer, PostgreSQL with 8 writer processes. Goal: ratio ≥ 0.8.

    python -m benchmarks.audit_write [OPS_PER_CASE]
"""

from __future__ import annotations

import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import Engine, text

from audit.chain import Entity, build_event, event_bytes, event_hash
from audit.trail import AuditTrail
from benchmarks.table import Row, print_table
from ebr import schema
from ebr.core.canonical import ZERO_HASH
from ebr.core.clock import utc_now
from ebr.core.db import make_engine, make_session_factory

DDL = [
    "CREATE TABLE bench_business (id INTEGER PRIMARY KEY, lot VARCHAR(40) NOT NULL, quantity VARCHAR(40) NOT NULL)",
    "CREATE TABLE bench_plain_log (id INTEGER PRIMARY KEY, ts VARCHAR(40) NOT NULL, actor VARCHAR(200) NOT NULL, "
    "action VARCHAR(200) NOT NULL, entity_type VARCHAR(100) NOT NULL, entity_id VARCHAR(400) NOT NULL, "
    "reason TEXT, prev VARCHAR(64) NOT NULL, hash VARCHAR(64) NOT NULL, canonical BYTEA NOT NULL)",
    # The same search indexes as audit_event: a plain log must be searchable too. Only
    # the chain's own parts (lock, head read, unique hash) are left out.
    "CREATE INDEX ix_bench_plain_entity ON bench_plain_log (entity_type, entity_id)",
    "CREATE INDEX ix_bench_plain_actor ON bench_plain_log (actor)",
    "CREATE INDEX ix_bench_plain_action ON bench_plain_log (action)",
    "CREATE INDEX ix_bench_plain_ts ON bench_plain_log (ts)",
]
INSERT_BUSINESS = text("INSERT INTO bench_business (id, lot, quantity) VALUES (:id, :lot, :q)")
PLAIN_SQL = (
    "INSERT INTO bench_plain_log (id, ts, actor, action, entity_type, entity_id, reason, prev, hash, canonical) "
    "VALUES (%s, %s, 'operator', 'lot.quantity.changed', 'lot', %s, 'weighed', %s, %s, %s)"
)


def _change(i: int) -> dict[str, object]:
    return {"id": i, "lot": f"L-{i:08d}", "q": f"{i % 997}.125"}


def _audited(engine: Engine, start: int, count: int) -> None:
    factory, trail = make_session_factory(engine), AuditTrail()
    for i in range(start, start + count):
        change = _change(i)
        with factory.begin() as session:
            session.execute(INSERT_BUSINESS, change)
            trail.record(
                session,
                actor="operator",
                action="lot.quantity.changed",
                entity=Entity("lot", str(change["lot"])),
                before={"quantity": "0.000"},
                after={"quantity": change["q"]},
                reason="weighed",
            )


def _plain(engine: Engine, start: int, count: int) -> None:
    factory = make_session_factory(engine)
    for i in range(start, start + count):
        change = _change(i)
        event = build_event(
            seq=i,
            ts=utc_now(),
            actor="operator",
            action="lot.quantity.changed",
            entity=Entity("lot", str(change["lot"])),
            reason="weighed",
            before={"quantity": "0.000"},
            after={"quantity": change["q"]},
            prev=ZERO_HASH,
        )
        data = event_bytes(event)
        with factory.begin() as session:
            session.execute(INSERT_BUSINESS, change)
            # The log row goes through the driver cursor, as AuditTrail.record does,
            # so the ratio measures the chain (lock, head read, hash) and nothing else.
            connection = session.connection()
            cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
            sql = PLAIN_SQL if connection.dialect.name == "postgresql" else PLAIN_SQL.replace("%s", "?")
            cursor.execute(sql, (i, event["ts"], change["lot"], ZERO_HASH, event_hash(data), data))
            cursor.close()


def _worker(url: str, kind: str, start: int, count: int) -> None:
    engine = make_engine(url)
    try:
        (_audited if kind == "audited" else _plain)(engine, start, count)
    finally:
        engine.dispose()


def _run(url: str, kind: str, writers: int, ops: int, offset: int) -> float:
    """Seconds for ``writers`` processes doing ``ops`` operations in all."""
    each = ops // writers
    started = time.perf_counter()
    if writers == 1:
        _worker(url, kind, offset, each)
    else:
        context = multiprocessing.get_context("fork")
        procs = [context.Process(target=_worker, args=(url, kind, offset + w * each, each)) for w in range(writers)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
            if proc.exitcode != 0:
                raise RuntimeError(f"a {kind} writer failed")
    return time.perf_counter() - started


def _prepare(url: str) -> None:
    engine = make_engine(url)
    try:
        schema.upgrade(engine)
        with engine.begin() as conn:
            for ddl in DDL:
                conn.execute(text(ddl.replace("BYTEA", "BLOB") if url.startswith("sqlite") else ddl))
    finally:
        engine.dispose()


def _case(name: str, url: str, writers: int, ops: int, rounds: int | None = None) -> Row:
    """Alternate plain and audited rounds (of about 400 operations) so both see the same machine load."""
    rounds = rounds or max(4, ops // 400)
    _prepare(url)
    _run(url, "plain", 1, 50, 10_000_000)  # warm-up: connections, caches, imports
    chunk = ops // rounds
    elapsed = {"plain": 0.0, "audited": 0.0}
    for index in range(rounds):
        for kind, base in (("plain", 1), ("audited", 1_000_001)):
            elapsed[kind] += _run(url, kind, writers, chunk, base + index * chunk)
    done = chunk - chunk % writers
    return Row(name, done * rounds / elapsed["audited"], done * rounds / elapsed["plain"], "op/s", "ratio ≥ 0.8")


def main() -> None:
    ops = int(sys.argv[1]) if len(sys.argv) > 1 else 1600
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(_case("SQLite, 1 writer (WAL, synchronous=NORMAL)", f"sqlite:///{Path(tmp) / 'w.sqlite'}", 1, ops))
    from tests.support.databases import PostgresDatabases, postgres_reachable, postgres_server_url

    server = postgres_server_url()
    if postgres_reachable(server) is None:
        dbs = PostgresDatabases(server)
        try:
            for writers in (1, 8):
                url = dbs.url_for(dbs.create("ebr_bench"))
                rows.append(_case(f"PostgreSQL, {writers} writer(s)", url, writers, ops))
        finally:
            dbs.drop_all()
    else:
        print(f"PostgreSQL at {server} unreachable: its cases are skipped")
    print_table(
        "Audited write (business row + chained event) vs plain write (+ unchained row)", rows, baseline_name="plain"
    )


if __name__ == "__main__":
    main()
