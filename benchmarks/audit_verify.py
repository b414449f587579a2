"""Verification throughput of the live chain vs raw SHA-256 over the same stored bytes, and Merkle proofs.

Builds a chain of N events (default 1,000,000) straight into a migrated database,
signs a tree head every N/10 events (the first one stores the Merkle nodes of the
whole log: the cost of upgrading an installation to v2), then times
``audit.verify.verify_chain`` (streaming, hashing, checking seq/prev, the RFC 9162
root of every tree head) against ``hashlib.sha256`` over the same bytes already in
memory; an inclusion proof for one event (random events, a fresh store each); and an
entity bundle of one entity's ~300 events spread over the whole log (one entity in
3,334). Goals: ratio ≥ 0.2 and 1,000,000 events in under 5 s; a proof < 5 ms; the
bundle < 1 s and < 1 MB.

    python -m benchmarks.audit_verify [N] [--postgres]   (PostgreSQL adds ~1-2 minutes: COPY of N rows)
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from audit.bundle import export_bundle
from audit.chain import Entity, build_event, event_bytes
from audit.checkpoints import Checkpointer, CheckpointLog
from audit.keys import create_system_key
from audit.merkle import inclusion_proof
from audit.tree_store import DbSubtrees
from audit.verify import verify_chain
from benchmarks.table import Row, print_table
from ebr import schema
from ebr.core.canonical import ZERO_HASH
from ebr.core.clock import SystemClock, from_rfc3339
from ebr.core.db import make_engine, make_session_factory

TEMPLATE = (
    '{"action":"batch.step.value_recorded","actor":"operator-%d","after":{"in_limits":true,"unit":"kg",'
    '"value":"%d.125"},"before":null,"entity":{"id":"B-%05d/UP1.OP2.PH3","type":"batch_step"},'
    '"prev":"%s","reason":null,"seq":%d,"ts":"2026-11-24T%02d:%02d:%02d.%06dZ"}'
)


ENTITIES = 3334  # one entity in 3,334: ~300 events each in a log of 1M, spread over all of it


def _entity_id(seq: int) -> str:
    return f"B-{seq % ENTITIES:05d}/UP1.OP2.PH3"


def _event(seq: int, prev: str) -> bytes:
    second = seq // 1000
    return (
        TEMPLATE
        % (seq % 7, seq, seq % ENTITIES, prev, seq, second // 3600 % 24, second // 60 % 60, second % 60, seq % 1000)
    ).encode()


def _check_template() -> None:
    """The fast template must produce exactly the canonical bytes the application writes."""
    data = _event(1234, ZERO_HASH)
    event = build_event(
        seq=1234,
        ts=from_rfc3339("2026-11-24T00:00:01.000234Z"),
        actor="operator-2",
        action="batch.step.value_recorded",
        entity=Entity("batch_step", _entity_id(1234)),
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
            _entity_id(seq),
            prev,
            digest,
            data,
        )
        prev = digest


def _fill_sqlite(url: str, rows: list[tuple[object, ...]]) -> None:
    path = url.removeprefix("sqlite:///")
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO audit_event (seq, ts, actor, action, entity_type, entity_id, prev, hash, canonical) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    conn.close()


def _fill_postgres(url: str, rows: list[tuple[object, ...]]) -> None:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY audit_event (seq, ts, actor, action, entity_type, entity_id, prev, hash, canonical) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row((*row[:1], "2026-11-24 00:00:00+00", *row[2:]))
        cur.execute("ANALYZE audit_event")


def _fill_and_sign(url: str, n: int, factory: sessionmaker[Session], checkpointer: Checkpointer) -> float:
    """Write the events in ten parts, a tree head after each; returns the seconds of the first tree head."""
    fill = _fill_postgres if url.startswith("postgresql") else _fill_sqlite
    rows = _rows(n)
    step = max(n // 10, 1)
    first = 0.0
    for part in range(0, n, step):
        fill(url, [next(rows) for _ in range(min(step, n - part))])
        started = time.perf_counter()
        with factory() as session, session.begin():
            checkpointer.checkpoint(session)
        first = first or time.perf_counter() - started
    return first


def _database(postgres: bool, workdir: Path) -> tuple[str, object]:
    if not postgres:
        return f"sqlite:///{workdir / 'verify.sqlite'}", None
    from tests.support.databases import PostgresDatabases, postgres_server_url

    dbs = PostgresDatabases(postgres_server_url())
    return dbs.url_for(dbs.create("ebr_bench")), dbs


def _proofs(factory: sessionmaker[Session], n: int, count: int = 200) -> float:
    """Median seconds of one inclusion proof in the tree of ``n`` events (a fresh store, nothing cached)."""
    picks = random.Random(16).sample(range(n), min(count, n))
    times = []
    with factory() as session:
        for index in picks:
            started = time.perf_counter()
            DbSubtrees(session).prepared(lambda src, index=index: inclusion_proof(src, index, n))
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def _entity_bundle(factory: sessionmaker[Session], checkpointer: Checkpointer, workdir: Path) -> tuple[float, int, int]:
    """Seconds, bytes and events of one entity's bundle (kind events, every event with its proof)."""
    out = workdir / "entity.zip"
    started = time.perf_counter()
    with factory() as session, session.begin():
        result = export_bundle(
            session,
            out_path=out,
            scope={"entity": {"type": "batch_step", "id": _entity_id(1234)}},
            clock=SystemClock(),
            entity=Entity("batch_step", _entity_id(1234)),
            checkpointer=checkpointer,
        )
    return time.perf_counter() - started, out.stat().st_size, result.events


def _measure(url: str, n: int, workdir: Path) -> dict[str, float]:
    engine = make_engine(url)
    try:
        schema.upgrade(engine)
        create_system_key(workdir / "keys")
        factory = make_session_factory(engine)
        checkpointer = Checkpointer(keys_dir=workdir / "keys", log_dir=workdir, every=10**9)
        first_head = _fill_and_sign(url, n, factory, checkpointer)
        key = checkpointer.key()
        assert key is not None
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
        seconds, size, events = _entity_bundle(factory, checkpointer, workdir)
        return {
            "verify": verify,
            "raw": raw,
            "first_head": first_head,
            "proof": _proofs(factory, n),
            "bundle_s": seconds,
            "bundle_bytes": size,
            "bundle_events": events,
        }
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
                m = _measure(url, n, Path(tmp))
            finally:
                if dbs is not None:
                    dbs.drop_all()  # type: ignore[attr-defined]
        verify, raw = m["verify"], m["raw"]
        rows.append(Row(f"{backend}: verify_chain, {n:,} events", n / verify, n / raw, "ev/s", "ratio ≥ 0.2"))
        rows.append(Row(f"{backend}: seconds for {n:,} events", verify, raw, "s", "< 5 s per 1M"))
        rows.append(Row(f"{backend}: first tree head over {n // 10:,} events", m["first_head"], 0, "s", "once"))
        rows.append(Row(f"{backend}: inclusion proof, median ms", m["proof"] * 1000, 0, "ms", "< 5 ms"))
        label = f"{backend}: bundle of {int(m['bundle_events'])} events, s"
        rows.append(Row(label, m["bundle_s"], 0, "s", "< 1 s"))
        rows.append(Row(f"{backend}: that bundle's size, KB", m["bundle_bytes"] / 1000, 0, "KB", "< 1000 KB"))
    print_table("Audit chain verification vs raw hashlib.sha256 over the same bytes", rows, baseline_name="sha256 only")


if __name__ == "__main__":
    main()
