"""The signature manifestation: printed name — date and time with zone — meaning."""

from __future__ import annotations

import datetime as dt

import pytest

from signatures.manifest import manifestation

TS = dt.datetime(2026, 11, 24, 20, 15, 59, 123456, tzinfo=dt.UTC)


@pytest.mark.requirement("URS-SIG-002")
def test_it_shows_name_local_time_with_zone_and_offset_and_meaning() -> None:
    text = manifestation("Alice Example", TS, "performed", "Europe/Berlin")
    assert text == "Alice Example — 2026-11-24 21:15:59 CET (UTC+01:00) — performed"


@pytest.mark.requirement("URS-SIG-002")
def test_summer_time_and_negative_offsets_are_unambiguous() -> None:
    summer = TS.replace(month=7)
    assert "2026-07-24 22:15:59 CEST (UTC+02:00)" in manifestation("A", summer, "verified", "Europe/Berlin")
    assert "2026-11-24 15:15:59 EST (UTC-05:00)" in manifestation("A", TS, "released", "America/New_York")
    assert manifestation("A", TS, "approved") == "A — 2026-11-24 20:15:59 UTC (UTC+00:00) — approved"


@pytest.mark.requirement("URS-SYS-001")
def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        manifestation("A", TS.replace(tzinfo=None), "performed", "UTC")
