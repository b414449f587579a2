"""The driver interface, like httpx's transport: connect, read, write, subscribe, close.

A driver speaks one protocol to one endpoint and knows its tags by their logical
names (``R-101.level``). Values come back as :class:`TagValue` with the quality and
the timestamps the device gave, so a record can say how good a value was and when
the plant measured it. Callbacks run in the event loop; they must not block.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

from ebr.core.clock import UTC

Value = float | int | bool


class Quality(StrEnum):
    """OPC UA quality classes (Modbus values are GOOD or BAD)."""

    GOOD = "good"
    UNCERTAIN = "uncertain"
    BAD = "bad"


@dataclass(frozen=True, slots=True)
class TagValue:
    """One value of one tag, with its quality, status code name and timestamps."""

    tag: str
    value: Value | None
    quality: Quality
    status: str = "Good"
    source_ts: dt.datetime | None = None
    server_ts: dt.datetime | None = None
    received: float = field(default_factory=time.monotonic)

    @property
    def good(self) -> bool:
        return self.quality is Quality.GOOD and self.value is not None

    def number(self) -> float:
        """The value as a float (booleans as 0/1); raises ValueError when there is none."""
        if self.value is None:
            raise ValueError(f"{self.tag} has no value ({self.status})")
        return float(self.value)


def aware(moment: dt.datetime | None) -> dt.datetime | None:
    """Protocol libraries hand out naive UTC times; make them aware."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


ValueCallback = Callable[[TagValue], None]
ConnectionListener = Callable[[str, bool, str], None]
"""Called with (endpoint name, connected, reason) whenever a connection comes or goes."""


@runtime_checkable
class EquipmentDriver(Protocol):
    """What the runtime needs from a protocol driver."""

    name: str

    @property
    def connected(self) -> bool: ...

    @property
    def last_alive(self) -> float:
        """``time.monotonic()`` of the last answer from the device (0.0: none yet)."""
        ...

    async def connect(self) -> None:
        """Open the connection; raise DriverError when the endpoint cannot be reached."""

    async def read(self, tags: Sequence[str]) -> dict[str, TagValue]:
        """Read ``tags`` now; unreadable tags come back with quality BAD."""

    async def write(self, tag: str, value: Value) -> None:
        """Write ``value`` to a writable tag; raise DriverError when the device refuses it."""

    async def subscribe(
        self, tags: Sequence[str], callback: ValueCallback, *, interval_ms: float | None = None
    ) -> None:
        """Call ``callback`` with every new value of ``tags`` (kept across reconnections).

        ``interval_ms`` asks for a slower publishing interval than the endpoint's (OPC UA);
        drivers that poll ignore it.
        """

    def add_connection_listener(self, listener: ConnectionListener) -> None:
        """Call ``listener`` when the connection is lost or comes back."""

    async def close(self) -> None:
        """Close the connection and stop every background task."""
