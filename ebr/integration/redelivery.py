"""Counting an inbound message's failed attempts and the dead letter it becomes after its last one.

The count must outlive the consumer: a message that kills the process (a crash, the
OOM killer, a kill) leaves no exception behind, and a consumer restarted with a fresh
count would apply it forever. So an attempt is written down *before* it runs
(:meth:`AttemptLog.start`, its own committed transaction): an attempt found still
running at the next start is one the process did not survive, and counts as failed
(:data:`CRASHED`). The installation keeps the log in its database
(:class:`ebr.integration.attempts.SqlAttempts`); :class:`MemoryAttempts` is the
in-process stand-in.

Only a message applied *alone* is written down, and only once it came back
(``redelivered``): a first delivery costs nothing, and the messages that were merely
in flight with a crashing one (its batch, the prefetched ones) come back, are applied
alone, and are not blamed. A pure crash loop is therefore applied at most
``max_attempts + 1`` times. Broker counts are not used: a quorum queue's
``x-delivery-count`` also counts the returns of transient failures (before RabbitMQ
4.3) and of every prefetched message when a consumer dies (docs/integration.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class DeadLetter:
    """An inbound delivery given up on: it failed ``attempts`` times, the last with ``error``."""

    queue: str
    message_id: str | None
    body: bytes
    headers: Mapping[str, Any]
    error: str
    attempts: int


DeadLetters = Callable[[DeadLetter], bytes | None]
"""Records a dead letter (its own transaction) and returns the error answer for the sender, if any."""

DEFAULT_MAX_ATTEMPTS = 3
TRACKED = 10_000
"""Failing messages whose attempts :class:`MemoryAttempts` remembers (the oldest are forgotten first)."""

CRASHED = "the consumer stopped while applying it (killed or crashed: no error was reported)"
"""The error of an attempt the consumer did not survive."""


@dataclass(frozen=True)
class Tried:
    """What the earlier attempts of a message left: how many failed (a crash counts) and the last error."""

    attempts: int = 0
    error: str | None = None


def attempt_key(message_id: str | None, body: bytes) -> str:
    """A message's key in the log: its id, else its body's SHA-256."""
    return f"id:{message_id}" if message_id else "sha256:" + hashlib.sha256(body).hexdigest()


class AttemptLog(Protocol):
    """Failed attempts per message (``queue``, ``key``), kept where a restarted consumer finds them."""

    def start(self, queue: str, key: str) -> Tried:
        """An attempt begins (written before it runs); an attempt still running from before counts as failed."""
        ...

    def failed(self, queue: str, key: str, error: str) -> int:
        """The attempt failed with ``error``; the failed attempts so far."""
        ...

    def interrupted(self, queue: str, key: str) -> None:
        """The attempt ended for a reason that is not the message's (the database gone): it does not count."""
        ...

    def forget(self, queue: str, key: str) -> None:
        """The message is settled (applied, answered or dead-lettered)."""
        ...


@dataclass
class _Entry:
    attempts: int = 0
    running: bool = False
    error: str | None = None


class MemoryAttempts:
    """:class:`AttemptLog` in the consumer's memory: lost with the process (tests, a consumer without a database)."""

    def __init__(self, limit: int = TRACKED) -> None:
        self.limit = limit
        self._seen: dict[tuple[str, str], _Entry] = {}

    def _entry(self, queue: str, key: str) -> _Entry:
        entry = self._seen.pop((queue, key), None) or _Entry()
        self._seen[(queue, key)] = entry  # the most recent last
        while len(self._seen) > self.limit:
            del self._seen[next(iter(self._seen))]
        return entry

    def start(self, queue: str, key: str) -> Tried:
        entry = self._entry(queue, key)
        if entry.running:
            entry.attempts, entry.error = entry.attempts + 1, CRASHED
        entry.running = True
        return Tried(entry.attempts, entry.error)

    def failed(self, queue: str, key: str, error: str) -> int:
        entry = self._entry(queue, key)
        entry.attempts, entry.error, entry.running = entry.attempts + 1, error, False
        return entry.attempts

    def interrupted(self, queue: str, key: str) -> None:
        self._entry(queue, key).running = False

    def forget(self, queue: str, key: str) -> None:
        self._seen.pop((queue, key), None)
