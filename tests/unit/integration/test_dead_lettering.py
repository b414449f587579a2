"""The AMQP consumer's dead-lettering, against a queue that behaves as RabbitMQ's does (no broker needed).

A message whose handling fails goes back to the head of the queue (``nack``, requeue)
and is counted; after the set number of attempts it is dead-lettered (recorded, put on
the dead-letter queue, answered, acknowledged) and the messages behind it go on. A
transient failure (the database gone) is never counted. A message that kills the
consumer counts too, in the attempt log a restarted consumer reads (the database in an
installation; here the same :class:`MemoryAttempts`). Whatever the mix of good, poison,
flaky and killing messages, every message ends acknowledged exactly once: applied or
dead-lettered, never lost, never looping.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pika
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ebr.core.errors import ConfigError
from ebr.integration.consumer import AmqpConsumer
from ebr.integration.redelivery import CRASHED, DeadLetter, MemoryAttempts
from ebr.integration.settings import load

EXAMPLES = int(os.environ.get("EBR_FUZZ_EXAMPLES", "60"))


class DatabaseGone(Exception):
    """Stands for sqlalchemy's OperationalError: transient, not the message's fault."""


class Killed(BaseException):
    """The process dies in the middle of a message (nothing of the consumer runs after it)."""


@dataclass
class Queue:
    """A queue and the channel calls the consumer makes on it (requeue puts back at the head, as RabbitMQ does)."""

    waiting: deque[tuple[pika.BasicProperties, bytes]] = field(default_factory=deque)
    in_flight: dict[int, tuple[pika.BasicProperties, bytes]] = field(default_factory=dict)
    returned: set[str | None] = field(default_factory=set)  # the messages delivered before (``redelivered``)
    prefetch: int = 3  # deliveries the broker has sent ahead to the consumer
    acked: list[str] = field(default_factory=list)
    published: dict[str, list[tuple[pika.BasicProperties, bytes]]] = field(default_factory=dict)
    tags: int = 0

    def next(self) -> tuple[int, pika.BasicProperties, bytes, bool]:
        props, body = self.waiting.popleft()
        self.tags += 1
        self.in_flight[self.tags] = (props, body)
        redelivered = props.message_id in self.returned
        self.returned.add(props.message_id)
        return self.tags, props, body, redelivered

    def connection_lost(self) -> None:
        """The consumer's connection closed: every unacknowledged delivery goes back, in order, at the head.

        The ones prefetched behind it were delivered too: they come back ``redelivered``.
        """
        self.waiting.extendleft(reversed([self.in_flight.pop(tag) for tag in sorted(self.in_flight)]))
        self.returned.update(props.message_id for props, _ in list(self.waiting)[: self.prefetch])

    def basic_ack(self, tag: int, multiple: bool = False) -> None:
        assert not multiple
        props, _ = self.in_flight.pop(tag)
        self.acked.append(props.message_id)

    def basic_nack(self, tag: int, requeue: bool = True) -> None:
        assert requeue
        self.waiting.appendleft(self.in_flight.pop(tag))

    def basic_publish(self, exchange: str, routing_key: str, body: bytes, properties: pika.BasicProperties) -> None:
        self.published.setdefault(routing_key, []).append((properties, body))


def consumer(handler: Any, *, attempts: int, kept: list[DeadLetter], log: MemoryAttempts | None = None) -> AmqpConsumer:
    def keep(letter: DeadLetter) -> bytes:
        kept.append(letter)
        return b"dead:" + (letter.message_id or "").encode()

    return AmqpConsumer(
        "amqp://guest:guest@127.0.0.1:1/%2F", queue="in", exchange="x", channel="erp", handler=handler,
        max_attempts=attempts, dead_letters=keep, transient=(DatabaseGone,), attempts=log,
    )  # fmt: skip


def drive(queue: Queue, target: AmqpConsumer, *, limit: int = 1000) -> int:
    """Deliver until the queue is empty; the number of deliveries (bounded: a loop fails the test)."""
    deliveries = 0
    while queue.waiting:
        deliveries += 1
        assert deliveries <= limit, "the consumer never got past a message"
        tag, props, body, redelivered = queue.next()
        target._one(queue, tag, props, body, redelivered=redelivered)  # type: ignore[arg-type] - the fake channel
    return deliveries


def message(mid: str) -> tuple[pika.BasicProperties, bytes]:
    return pika.BasicProperties(message_id=mid, reply_to="replies"), mid.encode()


@pytest.mark.requirement("URS-INT-028")
@settings(max_examples=EXAMPLES, deadline=None)
@given(
    failures=st.lists(st.integers(0, 6), min_size=1, max_size=12),  # how often each message fails before it works
    attempts=st.integers(1, 4),
)
def test_every_message_ends_applied_or_dead_lettered_once_after_its_last_attempt(
    failures: list[int], attempts: int
) -> None:
    queue = Queue()
    for n in range(len(failures)):
        queue.waiting.append(message(f"M-{n}"))
    tried: dict[str, int] = {}
    applied: list[str] = []

    def handler(body: bytes, mid: str | None, headers: Mapping[str, Any]) -> tuple[bytes, bool]:
        assert mid is not None
        tried[mid] = tried.get(mid, 0) + 1
        if tried[mid] <= failures[int(mid[2:])]:
            raise TypeError(f"a bug on {mid}")
        applied.append(mid)
        return b"ok:" + body, True

    kept: list[DeadLetter] = []
    drive(queue, consumer(handler, attempts=attempts, kept=kept))
    good = [f"M-{n}" for n, f in enumerate(failures) if f < attempts]
    dead = [f"M-{n}" for n, f in enumerate(failures) if f >= attempts]
    assert applied == good  # in delivery order, each once
    assert sorted(queue.acked) == sorted(good + dead)  # each acknowledged exactly once
    assert [k.message_id for k in kept] == dead
    assert all(k.attempts == attempts and k.error == f"TypeError: a bug on {k.message_id}" for k in kept)
    assert all(tried[mid] == attempts for mid in dead)  # tried exactly the set number of times, no more
    assert [p.message_id for p, _ in queue.published.get("in.dead", [])] == dead
    assert all(p.headers["x-ebr-attempts"] == attempts for p, _ in queue.published.get("in.dead", []))
    answers = [body for _, body in queue.published.get("replies", [])]
    assert sorted(answers) == sorted([b"ok:" + m.encode() for m in good] + [b"dead:" + m.encode() for m in dead])
    assert not queue.in_flight


@pytest.mark.requirement("URS-INT-028")
def test_a_transient_failure_is_never_counted_and_a_dead_letter_not_recorded_stays_on_the_queue() -> None:
    queue = Queue()
    queue.waiting.extend([message("T-1"), message("T-2")])
    kept: list[DeadLetter] = []
    gone = {"database": True}

    def handler(body: bytes, mid: str | None, headers: Mapping[str, Any]) -> tuple[bytes, bool]:
        if gone["database"]:
            raise DatabaseGone("connection refused")
        if mid == "T-2":
            raise KeyError("bug")
        return b"ok", True

    target = consumer(handler, attempts=2, kept=kept)
    for _ in range(10):  # the database is gone for a long time: each time raised, requeued, never counted
        tag, props, body, redelivered = queue.next()
        with pytest.raises(DatabaseGone):
            target._one(queue, tag, props, body, redelivered=redelivered)  # type: ignore[arg-type] - the fake channel
    assert ([p.message_id for p, _ in queue.waiting], kept, queue.acked) == (["T-1", "T-2"], [], [])
    gone["database"] = False

    def cannot_record(letter: DeadLetter) -> bytes:
        raise DatabaseGone("gone again while recording the dead letter")

    target.dead_letters = cannot_record
    with pytest.raises(DatabaseGone):
        drive(queue, target)
    assert [p.message_id for p, _ in queue.waiting] == ["T-2"]  # not recorded: not acknowledged, not published
    assert (queue.acked, "in.dead" in queue.published) == (["T-1"], False)
    target.dead_letters = consumer(handler, attempts=2, kept=kept).dead_letters
    drive(queue, target)
    assert ([k.message_id for k in kept], queue.acked) == (["T-2"], ["T-1", "T-2"])


@pytest.mark.requirement("URS-INT-028")
@settings(max_examples=EXAMPLES, deadline=None)
@given(
    kills=st.lists(st.integers(0, 6), min_size=1, max_size=8),  # how often each message kills the consumer
    attempts=st.integers(1, 4),
)
def test_a_message_that_kills_the_consumer_is_dead_lettered_by_a_restarted_one_and_its_neighbours_are_not_blamed(
    kills: list[int], attempts: int
) -> None:
    queue = Queue()
    for n in range(len(kills)):
        queue.waiting.append(message(f"K-{n}"))
    tried: dict[str, int] = {}
    applied: list[str] = []
    kept: list[DeadLetter] = []
    log = MemoryAttempts()  # the database: it outlives each consumer process

    def handler(body: bytes, mid: str | None, headers: Mapping[str, Any]) -> tuple[bytes, bool]:
        assert mid is not None
        tried[mid] = tried.get(mid, 0) + 1
        if tried[mid] <= kills[int(mid[2:])]:
            raise Killed(mid)
        applied.append(mid)
        return b"ok:" + body, True

    restarts = 0
    while queue.waiting:
        try:
            drive(queue, consumer(handler, attempts=attempts, kept=kept, log=log))  # a new process each time
        except Killed:
            queue.connection_lost()
            restarts += 1
            assert restarts <= 100, "the consumer never got past a message"
    # Only a message's own deaths count: it is dead-lettered after `attempts` of them, or one more
    # when the first came on its first delivery (not written down: it may have been one of a batch).
    dead = [k.message_id or "" for k in kept]
    deaths = {f"K-{n}": k for n, k in enumerate(kills)}
    assert all(k.attempts == attempts and k.error == CRASHED for k in kept)
    assert all(deaths[mid] >= attempts and tried[mid] in (attempts, attempts + 1) for mid in dead)
    assert [m for m in deaths if deaths[m] < attempts] == [m for m in applied if deaths[m] < attempts]
    assert [m for m in deaths if deaths[m] > attempts] == [m for m in dead if deaths[m] > attempts]
    assert all(tried[mid] == deaths[mid] + 1 for mid in applied)  # each killing attempt, then applied
    assert sorted(queue.acked) == sorted(applied + dead) == sorted(deaths)
    assert not queue.in_flight


@pytest.mark.requirement("URS-INT-028")
def test_a_consumer_stopped_after_recording_a_dead_letter_but_before_its_ack_does_not_apply_it_again() -> None:
    """The letter is kept and published, then the process dies before the ack: the message comes back
    with its attempts spent (forgotten only after the ack) and is dead-lettered again, never applied."""
    queue = Queue()
    queue.waiting.append(message("D-1"))
    kept: list[DeadLetter] = []
    log = MemoryAttempts()
    tried: list[str | None] = []

    def handler(body: bytes, mid: str | None, headers: Mapping[str, Any]) -> tuple[bytes, bool]:
        tried.append(mid)
        raise TypeError("a bug on D-1")

    first = consumer(handler, attempts=2, kept=kept, log=log)
    acked = queue.basic_ack

    def dies_before_the_ack(tag: int, multiple: bool = False) -> None:
        raise Killed("between the dead letter and its ack")

    with pytest.raises(Killed):
        for _ in range(2):
            tag, props, body, redelivered = queue.next()
            if len(tried) == 1:  # the last attempt: the process dies once the letter is kept
                queue.basic_ack = dies_before_the_ack  # type: ignore[method-assign] - the fault
            first._one(queue, tag, props, body, redelivered=redelivered)  # type: ignore[arg-type] - the fake channel
    assert [k.message_id for k in kept] == ["D-1"]
    queue.basic_ack = acked  # type: ignore[method-assign]
    queue.connection_lost()
    drive(queue, consumer(handler, attempts=2, kept=kept, log=log))  # restarted
    assert tried == ["D-1", "D-1"]  # not applied a third time
    assert [k.message_id for k in kept] == ["D-1", "D-1"]  # kept again (the first was never acknowledged)
    assert queue.acked == ["D-1"]
    assert not queue.in_flight


def test_the_delivery_count_of_a_quorum_queue_is_not_trusted() -> None:
    """RabbitMQ's x-delivery-count also counts transient returns and prefetched neighbours: the log decides."""
    queue = Queue()
    props = pika.BasicProperties(message_id="Q-1", headers={"x-delivery-count": 40})
    queue.waiting.append((props, b"q"))
    kept: list[DeadLetter] = []

    def handler(body: bytes, mid: str | None, headers: Mapping[str, Any]) -> tuple[bytes, bool]:
        return b"ok", True

    drive(queue, consumer(handler, attempts=3, kept=kept))
    assert (queue.acked, kept) == (["Q-1"], [])


def test_the_attempts_are_a_setting_of_at_least_one(tmp_path: Any) -> None:
    assert load(tmp_path, {}).inbound_max_attempts == 3
    assert load(tmp_path, {"EBR_INBOUND_MAX_ATTEMPTS": "5"}).inbound_max_attempts == 5
    assert load(tmp_path, {"EBR_ERP_DEAD_LETTER_QUEUE": "erp.dlq"}).channel("erp").dead_letter_queue == "erp.dlq"
    with pytest.raises(ConfigError, match="EBR_INBOUND_MAX_ATTEMPTS"):
        load(tmp_path, {"EBR_INBOUND_MAX_ATTEMPTS": "0"})
