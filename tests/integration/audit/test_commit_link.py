"""The chain link made in the commit's own message (PostgreSQL) and everything that must link earlier.

A state machine drives random transactions — events recorded, the trail read inside
the transaction, events linked at once, savepoints rolled back, failures after the
events, tree heads — and after every step checks the trail against a model: exactly
the committed events, in commit order, seq 1..n without gaps, time never going back,
and the whole chain verifying deep (bytes, hashes, every column copy).
"""

from __future__ import annotations

import itertools
import os
import threading

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from audit.chain import Entity
from audit.models import AuditCheckpoint, AuditEvent
from audit.trail import CHAIN_LOCK_KEY, AuditTrail, head
from ebr.bootstrap import Services
from ebr.trail.services import verify_live
from tests.integration.audit.conftest import CHECKPOINT_EVERY

STEPS = int(os.environ.get("EBR_STATEFUL_STEPS", "50"))
IMMEDIATE = "load.linked_now"
KINDS = ("plain", "immediate", "read", "savepoint_kept", "savepoint_undone")


def _events(services: Services) -> list[tuple[int, str]]:
    with services.session_factory() as session:
        query = select(AuditEvent.seq, AuditEvent.entity_id).order_by(AuditEvent.seq)
        return [(r.seq, r.entity_id) for r in session.execute(query)]


@pytest.mark.requirement("URS-AUD-006")
@pytest.mark.parametrize("backend", ["postgresql"])
def test_the_returned_event_is_completed_when_its_transaction_commits(audited: Services) -> None:
    with audited.session_factory.begin() as session:
        first = audited.audit.record(session, actor="alice", action="x.done", entity=Entity("x", "1"))
        second = audited.audit.record(session, actor="alice", action="x.done", entity=Entity("x", "2"))
        assert (first.chained, second.chained) == (False, False)
    assert (first.seq, second.seq) == (1, 2)
    assert second.prev == first.hash
    assert first.ts <= second.ts
    with audited.session_factory() as session:
        stored = session.get(AuditEvent, 2)
        assert stored is not None
        assert (bytes(stored.canonical), stored.ts, stored.hash) == (second.canonical, second.ts, second.hash)


# Text PostgreSQL can store (no NUL), weighted towards what breaks hand-made SQL.
HOSTILE = st.text(
    alphabet=st.one_of(st.sampled_from("'\\\"%s;$${}[]:-/*\n\t"), st.characters(blacklist_characters="\x00")),
    max_size=40,
)


@pytest.mark.requirement("URS-AUD-006")
@pytest.mark.parametrize("backend", ["postgresql"])
def test_any_text_an_event_carries_reaches_the_chain_byte_for_byte(audited: Services) -> None:
    """The link statement is written from psycopg's literals: quotes, backslashes, ``%s``, ``$$``, ``;`` and
    any Unicode in any field are stored as recorded, alone (``audit_link``) or several (``audit_chain``)."""

    @settings(max_examples=25, deadline=None)
    @given(st.lists(st.tuples(HOSTILE, HOSTILE, HOSTILE, st.none() | HOSTILE), min_size=1, max_size=3))
    @example([("o'brien", "it's", "B-1'; DROP TABLE audit_event; --", "50% done \\' $$ %s")])
    @example([("o'brien", "a", "x\\", None), ("b", "it's", "%(x)s", "'; COMMIT; --")])
    def check(events: list[tuple[str, str, str, str | None]]) -> None:
        with audited.session_factory.begin() as session:
            recorded = []
            for actor, action, entity, reason in events:
                event = audited.audit.record(
                    session, actor=actor or "a", action="x." + action.replace(" ", ""),
                    entity=Entity("x", entity or "e"), after={"v": entity}, reason=reason,
                )  # fmt: skip
                recorded.append(event)
        with audited.session_factory() as session:
            for event in recorded:
                stored = session.get(AuditEvent, event.seq)
                assert stored is not None
                assert (stored.actor, stored.action, stored.entity_id, stored.reason) == (
                    event.actor, event.action, event.entity_id, event.reason
                )  # fmt: skip
                assert bytes(stored.canonical) == event.canonical
        assert verify_live(audited, deep=True).ok

    check()


@pytest.mark.requirement("URS-AUD-006")
@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_query_of_the_trail_inside_the_transaction_sees_its_own_events(audited: Services) -> None:
    with audited.session_factory.begin() as session:
        audited.audit.record(session, actor="alice", action="x.done", entity=Entity("x", "1"))
        assert head(session)[0] == 1  # linked before the read
        found = session.scalars(select(AuditEvent.entity_id)).all()
        assert found == ["1"]
        audited.audit.record(session, actor="alice", action="x.done", entity=Entity("x", "2"))
    assert _events(audited) == [(1, "1"), (2, "2")]


@pytest.mark.requirement("URS-AUD-006")
@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_commit_that_cannot_link_stores_nothing_and_says_why(audited: Services) -> None:
    """The chain's lock held elsewhere beyond the lock timeout: the commit fails, its change and event are gone."""
    with audited.engine.begin() as conn:
        conn.execute(text("CREATE TABLE link_change (id VARCHAR(10) PRIMARY KEY)"))
    holder = audited.engine.connect()
    holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": CHAIN_LOCK_KEY})
    try:
        with pytest.raises(DBAPIError, match="lock timeout"), audited.session_factory.begin() as session:
            session.execute(text("SET LOCAL lock_timeout = '100ms'"))
            session.execute(text("INSERT INTO link_change (id) VALUES ('a')"))
            audited.audit.record(session, actor="alice", action="x.done", entity=Entity("x", "a"))
    finally:
        holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": CHAIN_LOCK_KEY})
        holder.close()
    with audited.session_factory() as session:
        assert session.scalars(text("SELECT id FROM link_change")).all() == []
    assert _events(audited) == []
    with audited.session_factory.begin() as session:  # the connection went back to the pool clean
        audited.audit.record(session, actor="alice", action="x.done", entity=Entity("x", "b"))
    assert _events(audited) == [(1, "b")]


@pytest.mark.requirement("URS-AUD-006")
@pytest.mark.parametrize("backend", ["postgresql"])
def test_after_commit_work_runs_once_the_transaction_is_committed_even_when_all_was_linked_early(
    audited: Services,
) -> None:
    """The after-commit hook takes the chain's lock: run before the real COMMIT it would wait on itself."""
    seen: list[tuple[int, int, int]] = []

    def after_commit(engine: object, first: int, last: int) -> None:
        with audited.session_factory.begin() as session:
            seen.append((first, last, head(session)[0]))

    trail = AuditTrail(immediate=frozenset({IMMEDIATE}), after_commit=after_commit)
    done = threading.Event()

    def work() -> None:
        with audited.session_factory.begin() as session:
            trail.record(session, actor="alice", action=IMMEDIATE, entity=Entity("x", "1"))
        done.set()

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    assert done.wait(30), "the commit hung: after-commit work ran before the COMMIT"
    assert seen == [(1, 1, 1)]


@pytest.mark.requirement("URS-AUD-006")
@pytest.mark.parametrize("backend", ["postgresql"])
def test_tree_heads_every_n_events_are_signed_after_the_commit_that_reached_them(audited: Services) -> None:
    with audited.session_factory.begin() as session:
        for i in range(CHECKPOINT_EVERY + 2):  # one commit across the first multiple
            audited.audit.record(session, actor="alice", action="x.done", entity=Entity("x", str(i)))
    with audited.session_factory() as session:
        sizes = session.scalars(select(AuditCheckpoint.seq)).all()
    assert sizes == [CHECKPOINT_EVERY + 2]  # over the trail as it was after that commit


class _Trail(RuleBasedStateMachine):
    """Random transactions on one installation; the model is the list of committed entity ids."""

    services: Services

    def __init__(self) -> None:
        super().__init__()
        self.counter = itertools.count()
        self.trail = AuditTrail(immediate=frozenset({IMMEDIATE}))
        self.model: list[str] = [e for _, e in _events(self.services)]

    def _record(self, session: object, *, immediate: bool = False) -> str:
        name = f"e{next(self.counter)}"
        action = IMMEDIATE if immediate else "load.changed"
        self.trail.record(session, actor="machine", action=action, entity=Entity("load", name))  # type: ignore[arg-type]
        return name

    @rule(
        kinds=st.lists(
            st.sampled_from(["plain", "immediate", "read", "savepoint_kept", "savepoint_undone"]), max_size=5
        )
    )
    def commit(self, kinds: list[str]) -> None:
        committed: list[str] = []
        with self.services.session_factory.begin() as session:
            for kind in kinds:
                if kind == "read":
                    assert head(session)[0] == len(self.model) + len(committed)
                elif kind in ("savepoint_kept", "savepoint_undone"):
                    savepoint = session.begin_nested()
                    name = self._record(session)
                    if kind == "savepoint_undone":
                        savepoint.rollback()
                    else:
                        savepoint.commit()
                        committed.append(name)
                else:
                    committed.append(self._record(session, immediate=kind == "immediate"))
        self.model.extend(committed)

    @rule(kinds=st.lists(st.sampled_from(["plain", "immediate", "read"]), min_size=1, max_size=4))
    def fail_after_events(self, kinds: list[str]) -> None:
        with pytest.raises(RuntimeError), self.services.session_factory.begin() as session:
            for kind in kinds:
                if kind == "read":
                    head(session)
                else:
                    self._record(session, immediate=kind == "immediate")
            raise RuntimeError("the business change failed")

    @rule()
    def sign_tree_head(self) -> None:
        if self.model:
            with self.services.session_factory.begin() as session:
                self.services.checkpointer.checkpoint(session)

    @invariant()
    def the_trail_is_exactly_the_committed_events(self) -> None:
        events = _events(self.services)
        assert [e for _, e in events] == self.model
        assert [s for s, _ in events] == list(range(1, len(self.model) + 1))
        with self.services.session_factory() as session:
            stamps = session.scalars(select(AuditEvent.ts).order_by(AuditEvent.seq)).all()
        assert all(a <= b for a, b in itertools.pairwise(stamps))

    def teardown(self) -> None:
        report = verify_live(self.services, deep=True)
        assert report.ok, [b.describe() for b in report.breaks]


@pytest.mark.requirement("URS-AUD-006")
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_random_transactions_leave_exactly_the_committed_events_in_one_valid_chain(audited: Services) -> None:
    _Trail.services = audited
    run_state_machine_as_test(
        _Trail, settings=settings(max_examples=max(STEPS // 5, 5), stateful_step_count=10, deadline=None)
    )
