"""An injectable clock. Everything that stamps a record asks a ``Clock``.

The system clock returns timezone-aware UTC datetimes; ``FixedClock`` lets tests
and replays control time exactly.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

UTC = dt.UTC


class Clock(Protocol):
    """Source of the current time (always timezone-aware UTC)."""

    def now(self) -> dt.datetime: ...


class SystemClock:
    """The server's clock, in UTC."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to (tests, simulations)."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> dt.datetime:
        return self._now

    def advance(self, **delta: float) -> dt.datetime:
        self._now += dt.timedelta(**delta)
        return self._now


def utc_now() -> dt.datetime:
    """Now, in UTC: for code that has no clock injected (CLI defaults)."""
    return dt.datetime.now(UTC)


def to_rfc3339(moment: dt.datetime) -> str:
    """RFC 3339 UTC with microseconds, as hashed records require.

    >>> to_rfc3339(dt.datetime(2026, 11, 24, 20, 15, 59, 123456, tzinfo=UTC))
    '2026-11-24T20:15:59.123456Z'
    """
    if moment.tzinfo is None:
        raise ValueError("naive datetime: a GMP timestamp must carry its time zone")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_rfc3339(text: str) -> dt.datetime:
    """Parse an RFC 3339 timestamp; a missing zone is an error."""
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return moment.astimezone(UTC)
