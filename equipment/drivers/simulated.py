"""An in-memory driver for unit tests: values are set by the test, writes are recorded.

Like httpx's ``MockTransport``: a real class with the driver interface, whose plant
behaviour is a plain function (``on_write``) that the test supplies.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence

from equipment.drivers.base import ConnectionListener, Quality, TagValue, Value, ValueCallback
from equipment.errors import CommunicationLost

WriteHandler = Callable[["SimulatedDriver", str, Value], None]


class SimulatedDriver:
    """Tags held in a dict; ``set`` plays the plant, ``writes`` records what was commanded."""

    def __init__(
        self, name: str = "sim", values: Mapping[str, Value] | None = None, *, on_write: WriteHandler | None = None
    ) -> None:
        self.name = name
        self._values: dict[str, TagValue] = {tag: TagValue(tag, v, Quality.GOOD) for tag, v in (values or {}).items()}
        self._subscribers: dict[str, list[ValueCallback]] = defaultdict(list)
        self._listeners: list[ConnectionListener] = []
        self._connected = False
        self._on_write = on_write
        self.writes: list[tuple[str, Value]] = []

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def last_alive(self) -> float:
        """In memory, a connected driver is always current."""
        return time.monotonic() if self._connected else 0.0

    async def connect(self) -> None:
        self._connected = True
        self._announce(True, "connected")

    async def read(self, tags: Sequence[str]) -> dict[str, TagValue]:
        self._require_connection()
        return {t: self._values.get(t, TagValue(t, None, Quality.BAD, "BadNodeIdUnknown")) for t in tags}

    async def write(self, tag: str, value: Value) -> None:
        self._require_connection()
        self.writes.append((tag, value))
        self.set(tag, value)
        if self._on_write is not None:
            self._on_write(self, tag, value)

    async def subscribe(
        self, tags: Sequence[str], callback: ValueCallback, *, interval_ms: float | None = None
    ) -> None:
        for tag in tags:
            self._subscribers[tag].append(callback)
            if tag in self._values:
                callback(self._values[tag])

    def add_connection_listener(self, listener: ConnectionListener) -> None:
        self._listeners.append(listener)

    async def close(self) -> None:
        self._connected = False

    # -- what a test does to the "plant" ---------------------------------------------

    def set(self, tag: str, value: Value | None, quality: Quality = Quality.GOOD, status: str = "Good") -> None:
        """Change a value as the plant would, notifying subscribers."""
        item = TagValue(tag, value, quality, status)
        self._values[tag] = item
        for callback in list(self._subscribers.get(tag, ())):
            callback(item)

    def value(self, tag: str) -> Value | None:
        item = self._values.get(tag)
        return None if item is None else item.value

    def drop_connection(self, reason: str = "connection dropped") -> None:
        """Simulate a lost connection."""
        self._connected = False
        self._announce(False, reason)

    def _announce(self, connected: bool, reason: str) -> None:
        for listener in list(self._listeners):
            listener(self.name, connected, reason)

    def _require_connection(self) -> None:
        if not self._connected:
            raise CommunicationLost(f"{self.name}: not connected")
