"""Pure calibration rules: the impact window of a failed calibration, and dates that cannot be."""

from __future__ import annotations

import datetime as dt

import pytest

from equipment.errors import StatusChangeRefused
from equipment.rules import check_calibration_times, last_pass_before, parse_maintenance_kind

T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)


@pytest.mark.requirement("URS-EQP-021")
def test_the_impact_window_starts_at_the_last_passing_calibration_before_the_failure() -> None:
    day = dt.timedelta(days=1)
    history = [(T0, True), (T0 + day, False), (T0 + 2 * day, True), (T0 + 5 * day, True)]
    assert last_pass_before(history, T0 + 4 * day) == T0 + 2 * day
    assert last_pass_before(history, T0) is None
    assert last_pass_before([(T0, False)], T0 + day) is None


@pytest.mark.requirement("URS-EQP-020")
def test_a_calibration_in_the_future_or_due_before_it_happened_is_refused() -> None:
    with pytest.raises(StatusChangeRefused, match="in the future"):
        check_calibration_times("SC-01", at=T0 + dt.timedelta(hours=1), now=T0, due_at=None)
    with pytest.raises(StatusChangeRefused, match="must be after the calibration"):
        check_calibration_times("SC-01", at=T0, now=T0, due_at=T0)
    check_calibration_times("SC-01", at=T0 - dt.timedelta(days=3), now=T0, due_at=T0 + dt.timedelta(days=90))


def test_a_maintenance_kind_is_preventive_or_corrective() -> None:
    assert parse_maintenance_kind(" Corrective ").value == "corrective"
    with pytest.raises(StatusChangeRefused, match="preventive, corrective"):
        parse_maintenance_kind("cosmetic")
