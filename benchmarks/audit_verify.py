"""Verification throughput of the live chain vs raw SHA-256 over the same stored bytes.

Builds a chain of N events (default 1,000,000) straight into a migrated database,
then times ``audit.verify.verify_chain`` (streaming, hashing, checking seq/prev and
checkpoints) against ``hashlib.sha256`` over the same bytes already in memory.
Goal: ratio ≥ 0.2 and 1,000,000 events in under 5 s.

    python -m benchmarks.audit_verify [N] [--postgres]   (PostgreSQL adds ~1-2 minutes: COPY of N rows)
"""

from __future__ import annotations

import hashlib
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import text

from audit.chain import Entity, build_event, event_bytes
from audit.checkpoints import CheckpointLog
from audit.keys import create_system_key
from audit.verify import verify_chain
from benchmarks.table import Row, print_table
from ebr import schema
from ebr.canonical import ZERO_HASH
from ebr.clock import from_rfc3339
from ebr.db import make_engine, make_session_factory

TEMPLATE = (
    '{"action":"batch.step.value_recorded","actor":"operator-%d","after":{"in_limits":true,"unit":"kg",'
    '"value":"%d.125"},"before":null,"entity":{"id":"B-%05d/UP1.OP2.PH3","type":"batch_step"},'
    '"prev":"%s","reason":null,"seq":%d,"ts":"2026-11-24T%02d:%02d:%02d.%06dZ"}'
)


def _event(seq: int, prev: str) -> bytes:
    second = seq // 1000
    return (
        TEMPLATE % (seq % 7, seq, seq // 50, prev, seq, second // 3600 % 24, second // 60 % 60, second % 60, seq % 1000)
    ).encode()


def _check_template() -> None:
    """The fast template must produce exactly the canonical bytes the application writes."""
    data = _event(1234, ZERO_HASH)
    event = build_event(
        seq=1234,
        ts=from_rfc3339("2026-11-24T00:00:01.000234Z"),
        actor="operator-2",
        action="batch.step.value_recorded",
        entity=Entity("batch_step", "B-00024/UP1.OP2.PH3"),
        reason=None,
        before=None,
        after={"in_limits": True, "unit": "kg", "value": "1234.125"},
        prev=ZERO_HASH,
    )
    assert event_bytes({**event, "seq": 1234}) == data, (event_bytes(event), data)


def _rows(n: int) -> Iterator[tuple[int, str, str, str, str, str, str, str, bytes]]:
    prev = ZERO_HASH
    for seq in range(1, n + 1):
        data = _event(seq, prev)
        digest = hashlib.sha256(data).hexdigest()
        yield (
            seq,
            "2026-11-24 00:00:00.000000",
            "operator",
            "batch.step.value_recorded",
            "batch_step",
            "B",
            prev,
            digest,
            data,
        )
        prev = digest


def _fill_sqlite(url: str, n: int) -> None:
    path = url.removeprefix("sqlite:///")
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO audit_event (seq, ts, actor, action, entity_type, entity_id, prev, hash, canonical) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            _rows(n),
        )
    conn.close()


def _fill_postgres(url: str, n: int) -> None:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY audit_event (seq, ts, actor, action, entity_type, entity_id, prev, hash, canonical) FROM STDIN"
        ) as copy:
            for row in _rows(n):
                copy.write_row((*row[:1], "2026-11-24 00:00:00+00", *row[2:]))
        cur.execute("ANALYZE audit_event")


def _database(postgres: bool, workdir: Path) -> tuple[str, object]:
    if not postgres:
        return f"sqlite:///{workdir / 'verify.sqlite'}", None
    from tests.support.databases import PostgresDatabases, postgres_server_url

    dbs = PostgresDatabases(postgres_server_url())
    return dbs.url_for(dbs.create("ebr_bench")), dbs


def _measure(url: str, n: int, workdir: Path) -> tuple[float, float]:
    engine = make_engine(url)
    try:
        schema.upgrade(engine)
        (_fill_postgres if url.startswith("postgresql") else _fill_sqlite)(url, n)
        key = create_system_key(workdir / "keys")
        factory = make_session_factory(engine)
        with factory() as session, session.begin():
            data = [bytes(d) for (d,) in session.execute(text("SELECT canonical FROM audit_event"))]
        started = time.perf_counter()
        for item in data:
            hashlib.sha256(item).hexdigest()
        raw = time.perf_counter() - started
        del data
        with factory() as session:
            if url.startswith("postgresql"):
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            started = time.perf_counter()
            report = verify_chain(session, trusted_keys={key.key_id: key.public_raw}, log=CheckpointLog(workdir))
            verify = time.perf_counter() - started
        if not report.ok or report.events_checked != n:
            raise RuntimeError(f"the benchmark chain does not verify: {report.breaks}")
        return verify, raw
    finally:
        engine.dispose()


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 1_000_000
    _check_template()
    rows = []
    backends = ["sqlite", "postgresql"] if "--postgres" in sys.argv else ["sqlite"]
    for backend in backends:
        with tempfile.TemporaryDirectory() as tmp:
            url, dbs = _database(backend == "postgresql", Path(tmp))
            try:
                verify, raw = _measure(url, n, Path(tmp))
            finally:
                if dbs is not None:
                    dbs.drop_all()  # type: ignore[attr-defined]
        rows.append(Row(f"{backend}: verify_chain, {n:,} events", n / verify, n / raw, "ev/s", "ratio ≥ 0.2"))
        rows.append(Row(f"{backend}: seconds for {n:,} events", verify, raw, "s", "< 5 s per 1M"))
    print_table("Audit chain verification vs raw hashlib.sha256 over the same bytes", rows, baseline_name="sha256 only")


if __name__ == "__main__":
    main()
