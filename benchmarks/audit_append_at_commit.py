"""An EXPERIMENT, not the application's append path: the chain link made by PostgreSQL in the COMMIT's message.

Why (issue 16, goal "audited write with 8 PostgreSQL writers ≥ 0.8× a plain commit"):
``AuditTrail.record`` takes the chain's advisory lock, reads the head, and the client
then builds the event and sends INSERT and COMMIT, so the lock is held across two
client round trips; timed per transaction with 8 writers, the transactions are fully
serialized on it (client-side time under the lock summed over all transactions = the
wall time) and most of that time is the COMMIT round trip, i.e. waiting for the
lock holder's client process to be scheduled on the loaded cores.

Here the client sends, after the business change, ONE simple-query message: the lock,
an ``INSERT … SELECT`` in which the server computes the event's seq (head + 1), its
time (``clock_timestamp()`` after the lock, so time order is seq order), prev, the
canonical bytes (the client's canonical prefix and middle around them) and the hash
(``sha256()``), and COMMIT. The lock is then held only while the server runs that
message and flushes the commit, never across a client round trip. The chain is
verified with ``verify_chain(deep=True)`` afterwards (bytes, hashes, every column copy).

What it does not have (why it is not the application's path): ``record()`` could not
return the event's seq and hash (they exist only at commit), so the after-append hooks
(outbox, state recorder, checkpoint trigger) and the records' images would have to move
into that message too; events are then stamped with the database server's clock.

    python -m benchmarks audit_append_at_commit [OPS] [--rounds N]
"""

from __future__ import annotations

import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

from psycopg import ClientCursor
from sqlalchemy import Engine, text

from audit.chain import Entity, build_event, event_bytes
from audit.checkpoints import CheckpointLog
from audit.trail import CHAIN_LOCK_KEY
from audit.verify import verify_chain
from benchmarks.audit_write import INSERT_BUSINESS, _change, _prepare, _worker
from benchmarks.table import Row, print_table
from ebr.core.canonical import ZERO_HASH
from ebr.core.clock import utc_now
from ebr.core.db import make_engine, make_session_factory

APPEND_AND_COMMIT = f"""SELECT pg_advisory_xact_lock({CHAIN_LOCK_KEY});
WITH h AS (SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1),
e AS (SELECT coalesce((SELECT seq FROM h), 0) + 1 AS seq, coalesce((SELECT hash FROM h), '{ZERO_HASH}') AS prev,
             clock_timestamp() AS ts),
b AS (SELECT seq, prev, ts, %(head)s::bytea || convert_to(prev, 'UTF8') || %(middle)s::bytea
             || convert_to(seq::text || ',"ts":"' || to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
                           || '"}}', 'UTF8') AS canonical FROM e)
INSERT INTO audit_event (seq, ts, actor, action, entity_type, entity_id, reason, prev, hash, canonical)
SELECT seq, ts, 'operator', 'lot.quantity.changed', 'lot', %(lot)s, 'weighed', prev,
       encode(sha256(canonical), 'hex'), canonical FROM b;
COMMIT"""  # noqa: S608 - constants only; the values are bound by the driver


def _parts(lot: str, quantity: str) -> tuple[bytes, bytes]:
    """The event's canonical bytes before its prev value and between prev and its seq value."""
    event = build_event(
        seq=2,
        ts=utc_now(),
        actor="operator",
        action="lot.quantity.changed",
        entity=Entity("lot", lot),
        reason="weighed",
        before={"quantity": "0.000"},
        after={"quantity": quantity},
        prev=ZERO_HASH,
    )
    data = event_bytes(event)
    at, seq_at = data.rfind(b'"prev":"') + 8, data.rfind(b',"seq":') + 7
    return data[:at], data[at + 64 : seq_at]


def _at_commit(url: str, start: int, count: int) -> None:
    engine = make_engine(url)
    factory = make_session_factory(engine)
    try:
        for i in range(start, start + count):
            change = _change(i)
            head, middle = _parts(str(change["lot"]), str(change["q"]))
            with factory() as session:
                session.execute(INSERT_BUSINESS, change)
                driver = session.connection().connection.driver_connection
                with ClientCursor(driver) as cursor:  # type: ignore[arg-type]
                    cursor.execute(APPEND_AND_COMMIT, {"head": head, "middle": middle, "lot": change["lot"]})
                session.commit()  # the server has committed: psycopg sends nothing more
    finally:
        engine.dispose()


def _run(url: str, kind: str, writers: int, ops: int, offset: int) -> float:
    each = ops // writers
    context = multiprocessing.get_context("fork")
    procs = [
        context.Process(target=_at_commit, args=(url, offset + w * each, each))
        if kind == "at_commit"
        else context.Process(target=_worker, args=(url, kind, offset + w * each, each))
        for w in range(writers)
    ]
    started = time.perf_counter()
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
        if proc.exitcode != 0:
            raise RuntimeError(f"a {kind} writer failed")
    return time.perf_counter() - started


def _check(engine: Engine) -> str:
    with tempfile.TemporaryDirectory() as tmp, make_session_factory(engine)() as session:
        report = verify_chain(session, trusted_keys={}, log=CheckpointLog(Path(tmp)), deep=True)
        if not report.ok:
            raise RuntimeError(f"the chain does not verify: {report.breaks[:3]}")
        earlier = session.execute(
            text("SELECT count(*) FROM audit_event a JOIN audit_event b ON b.seq = a.seq + 1 WHERE b.ts < a.ts")
        ).scalar_one()
    if earlier:
        raise RuntimeError(f"{earlier} events carry an earlier time than the event before them")
    return f"{report.events_checked} events verify (deep), time order = seq order"


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    ops = int(args[0]) if args else 800
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 2
    from tests.support.databases import PostgresDatabases, postgres_reachable, postgres_server_url

    server = postgres_server_url()
    if postgres_reachable(server) is not None:
        print(f"PostgreSQL at {server} unreachable: this experiment needs it")
        return
    dbs = PostgresDatabases(server)
    rows = []
    try:
        for writers in (1, 8):
            url = dbs.url_for(dbs.create("ebr_bench"))
            _prepare(url)
            elapsed = {"plain": 0.0, "audited": 0.0, "at_commit": 0.0}
            offsets = {"plain": 1, "audited": 1_000_001, "at_commit": 2_000_001}
            for index in range(rounds):  # alternating, so that all three see the same load
                for kind in elapsed:
                    elapsed[kind] += _run(url, kind, writers, ops, offsets[kind] + index * ops)
            done = (ops - ops % writers) * rounds
            for kind in ("audited", "at_commit"):
                name = f"PostgreSQL, {writers} writer(s), {kind}"
                rows.append(Row(name, done / elapsed[kind], done / elapsed["plain"], "op/s", "ratio ≥ 0.8"))
            engine = make_engine(url)
            try:
                print(f"{writers} writer(s): {_check(engine)}")
            finally:
                engine.dispose()
    finally:
        dbs.drop_all()
    print_table(
        "Audited write: today's append vs the chain link made in the COMMIT's message", rows, baseline_name="plain"
    )


if __name__ == "__main__":
    main()
