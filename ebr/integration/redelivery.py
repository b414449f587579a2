"""Counting an inbound message's failed attempts and the dead letter it becomes after its last one.

A classic RabbitMQ queue does not count redeliveries (a quorum queue's ``x-delivery-count``
does); the AMQP consumer (:class:`ebr.integration.transports.AmqpConsumer`) counts them
itself, per message, and hands a :class:`DeadLetter` to be recorded when it gives up.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


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
"""Failing messages whose attempts one consumer remembers (the oldest are forgotten first)."""


class Attempts:
    """Failed attempts per message (its id, else its body's hash), as a classic queue does not count them.

    A quorum queue's ``x-delivery-count`` header is used when it says more. The count lives
    in the consumer process: after a restart a message gets its attempts again (still bounded).
    """

    def __init__(self, limit: int = TRACKED) -> None:
        self.limit = limit
        self._seen: OrderedDict[str, int] = OrderedDict()

    @staticmethod
    def key(message_id: str | None, body: bytes) -> str:
        return f"id:{message_id}" if message_id else "sha256:" + hashlib.sha256(body).hexdigest()

    def failed(self, key: str, headers: Mapping[str, Any]) -> int:
        """Count one more failure of ``key``; the attempts so far."""
        delivered = headers.get("x-delivery-count")
        broker = int(delivered) + 1 if isinstance(delivered, int) else 0
        count = max(self._seen.pop(key, 0) + 1, broker)
        self._seen[key] = count
        while len(self._seen) > self.limit:
            self._seen.popitem(last=False)
        return count

    def forget(self, key: str) -> None:
        self._seen.pop(key, None)
