"""Property: any edit, delete, insert, swap or truncation of the trail behind the application is found and located.

One trail of 40 events with tree heads every 5 (the last at 40: the timer's head over
the tail) per database; each example tampers inside a transaction, verifies on that
same connection and rolls back, so every example starts from the genuine trail.
``EBR_HYPOTHESIS_EXAMPLES`` raises the number of examples for a long run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from audit.chain import Entity, build_event, event_bytes, event_hash
from audit.checkpoints import CheckpointLog
from audit.findings import Break
from audit.verify import verify_chain
from ebr.bootstrap import Services
from ebr.core.clock import from_rfc3339
from ebr.trail.services import retired_keys, trusted_keys
from tests.integration.audit.conftest import Append, drop_append_only_triggers

pytestmark = pytest.mark.requirement("URS-AUD-003", "URS-AUD-021")
N = 40
EXAMPLES = int(os.environ.get("EBR_HYPOTHESIS_EXAMPLES", "25"))


@dataclass(frozen=True)
class Tamper:
    kind: str
    at: int
    other: int = 0

    def expected(self) -> int:
        """Where the first break must be reported."""
        if self.kind == "swap":
            return min(self.at, self.other)
        return self.at


def _one(conn: Connection, sql: str, **params: object) -> None:
    conn.execute(text(sql), params)


def _forged(seq: int, prev: str) -> bytes:
    event = build_event(
        seq=seq, ts=from_rfc3339("2026-11-24T10:00:00.000000Z"), actor="mallory", action="batch.released",
        entity=Entity("batch", "B-0"), reason="forged", before=None, after={"status": "released"}, prev=prev,
    )  # fmt: skip
    return event_bytes(event)


def _insert(conn: Connection, seq: int, data: bytes, prev: str) -> None:
    _one(
        conn,
        "INSERT INTO audit_event (seq, ts, actor, action, entity_type, entity_id, reason, prev, hash, canonical) "
        "VALUES (:seq, :ts, 'mallory', 'batch.released', 'batch', 'B-0', 'forged', :prev, :hash, :data)",
        seq=seq, ts=from_rfc3339("2026-11-24T10:00:00.000000Z"), prev=prev, hash=event_hash(data), data=data,
    )  # fmt: skip


def _apply(conn: Connection, tamper: Tamper) -> None:
    at = tamper.at
    if tamper.kind == "none":
        return
    if tamper.kind == "edit":
        data = bytes(conn.execute(text("SELECT canonical FROM audit_event WHERE seq = :s"), {"s": at}).scalar_one())
        _one(conn, "UPDATE audit_event SET canonical = :c WHERE seq = :s", c=data.replace(b'"L"', b'"mL"'), s=at)
    elif tamper.kind == "delete":
        _one(conn, "DELETE FROM audit_event WHERE seq = :s", s=at)
    elif tamper.kind == "truncate":
        _one(conn, "DELETE FROM audit_event WHERE seq >= :s", s=at)
    elif tamper.kind == "swap":
        _one(conn, "UPDATE audit_event SET seq = -1 WHERE seq = :a", a=at)
        _one(conn, "UPDATE audit_event SET seq = :a WHERE seq = :b", a=at, b=tamper.other)
        _one(conn, "UPDATE audit_event SET seq = :b WHERE seq = -1", b=tamper.other)
    elif tamper.kind == "insert":  # a forged event chained to its predecessor, later ones shifted up
        prev = str(conn.execute(text("SELECT hash FROM audit_event WHERE seq = :s"), {"s": at - 1}).scalar_one())
        _one(conn, "UPDATE audit_event SET seq = -(seq + 1) WHERE seq >= :s", s=at)
        _one(conn, "UPDATE audit_event SET seq = -seq WHERE seq < 0")
        _insert(conn, at, _forged(at, prev), prev)
    else:  # append: a forged event after the head that does not chain to it
        _insert(conn, N + 1, _forged(N + 1, "f" * 64), "f" * 64)


TAMPERS = st.one_of(
    st.builds(Tamper, st.sampled_from(["edit", "delete", "truncate"]), st.integers(1, N)),
    st.builds(Tamper, st.just("insert"), st.integers(2, N)),
    st.integers(1, N - 1).flatmap(
        lambda a: st.builds(Tamper, st.just("swap"), st.just(a), st.integers(a + 1, min(a + 6, N)))
    ),
    st.just(Tamper("append", N + 1)),
)


def _verify_tampered(services: Services, tamper: Tamper) -> list[Break]:
    log = CheckpointLog(services.settings.checkpoint_log_dir)
    keys, retired = trusted_keys(services.settings), retired_keys(services.settings)
    with services.engine.connect() as conn:
        outer = conn.begin()
        try:
            drop_append_only_triggers(conn)
            _apply(conn, tamper)
            with Session(bind=conn, join_transaction_mode="create_savepoint") as session:
                report = verify_chain(session, trusted_keys=keys, log=log, retired=retired)
        finally:
            outer.rollback()
    return report.breaks


@pytest.fixture
def trail(audited: Services, append: Append) -> Services:
    append(N)  # tree heads at 5, 10, …, 40
    return audited


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tamper=TAMPERS)
def test_every_tampering_is_found_and_located_at_its_first_event(trail: Services, tamper: Tamper) -> None:
    breaks = _verify_tampered(trail, tamper)
    assert breaks, f"{tamper} was not found"
    first = min(breaks, key=lambda b: b.seq)
    assert first.seq == tamper.expected(), (tamper, [b.describe() for b in breaks])


def test_the_genuine_trail_verifies(trail: Services) -> None:
    assert _verify_tampered(trail, Tamper("none", 0)) == []
