"""The injectable clock and RFC 3339 timestamps."""

from __future__ import annotations

import datetime as dt

import pytest

from ebr.core.clock import FixedClock, SystemClock, from_rfc3339, to_rfc3339


def test_the_system_clock_is_aware_utc() -> None:
    assert SystemClock().now().utcoffset() == dt.timedelta(0)


def test_a_fixed_clock_moves_only_when_told() -> None:
    clock = FixedClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert clock.now() == clock.now()
    clock.advance(seconds=90)
    assert clock.now() == dt.datetime(2026, 1, 1, 0, 1, 30, tzinfo=dt.UTC)


@pytest.mark.requirement("URS-SYS-001")
def test_timestamps_are_written_in_utc_with_microseconds_and_zone_required() -> None:
    cet = dt.timezone(dt.timedelta(hours=1))
    assert to_rfc3339(dt.datetime(2026, 11, 24, 21, 15, 59, 123456, tzinfo=cet)) == "2026-11-24T20:15:59.123456Z"
    with pytest.raises(ValueError, match="naive"):
        to_rfc3339(dt.datetime(2026, 11, 24))  # noqa: DTZ001 - the naive value is the point of the test
    with pytest.raises(ValueError, match="no time zone"):
        from_rfc3339("2026-11-24T20:15:59")
    assert from_rfc3339("2026-11-24T20:15:59.123456Z").tzinfo is not None
