"""ISO 22400-2 KPI arithmetic on hand-computed cases, shifts across midnight and DST, and properties."""

from __future__ import annotations

import datetime as dt
import itertools
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ebr.performance.kpi import (
    Interval,
    Kpis,
    Shift,
    StateKind,
    intervals_of,
    pareto,
    shift_windows,
    times,
)

UTC = dt.UTC
BERLIN = ZoneInfo("Europe/Berlin")
MON = dt.datetime(2026, 3, 2, tzinfo=UTC)
EARLY = Shift("early", dt.time(6), dt.time(14))
NIGHT = Shift("night", dt.time(22), dt.time(6))


def at(hour: float, day: dt.datetime = MON) -> dt.datetime:
    return day + dt.timedelta(hours=hour)


def run(*changes: tuple[float, StateKind], until: float = 24) -> list[Interval]:
    rows = [("R-101", state, at(h), "", None, i) for i, (h, state) in enumerate(changes)]
    return intervals_of(rows, at(until))


@pytest.mark.requirement("URS-OEE-003")
def test_a_hand_computed_shift_gives_availability_effectiveness_quality_and_oee() -> None:
    history = run(
        (5, StateKind.PLANNED),
        (6.5, StateKind.RUNNING),
        (10, StateKind.DOWN),
        (10.5, StateKind.RUNNING),
        (12, StateKind.IDLE),
    )
    windows = shift_windows([EARLY], at(0), at(24), UTC)
    spent = times(history, windows, at(0), at(24))
    assert spent.calendar == 86_400
    assert spent.by_state[StateKind.OUT_OF_SHIFT] == 57_600
    assert spent.planned_busy == 27_000  # 8 h less the 30 min before the first start
    assert spent.running == 18_000
    kpis = Kpis(spent, ideal_seconds=Fraction(15_000), produced=Fraction(100), good=Fraction(95))
    assert kpis.availability == Fraction(2, 3)
    assert kpis.effectiveness == Fraction(5, 6)
    assert kpis.quality == Fraction(19, 20)
    assert kpis.oee == Fraction(19, 36)
    assert (kpis.mtbf, kpis.mttr) == (18_000, 1_800)


def test_a_stop_under_the_threshold_is_a_minor_stop_not_a_failure() -> None:
    history = run((6, StateKind.RUNNING), (7, StateKind.DOWN), (7 + 4 / 60, StateKind.RUNNING))
    spent = times(history, shift_windows([EARLY], at(0), at(24), UTC), at(0), at(24))
    assert (spent.failures, spent.minor_stops) == (0, 1)
    assert Kpis(spent, Fraction(0), Fraction(0), Fraction(0)).mtbf is None


def test_a_night_shift_crosses_midnight_and_counts_on_the_day_it_starts() -> None:
    windows = shift_windows([NIGHT], at(0), at(48), UTC)
    assert [(w.day.isoformat(), w.start, w.end) for w in windows] == [
        ("2026-03-01", at(0), at(6)),  # Sunday's night shift, clipped to the window
        ("2026-03-02", at(22), at(30)),
        ("2026-03-03", at(46), at(48)),
    ]
    history = run((0, StateKind.RUNNING), (23, StateKind.DOWN), (25, StateKind.RUNNING), until=48)
    spent = times(history, windows, at(0), at(48))
    assert spent.by_state[StateKind.DOWN] == 7_200
    assert spent.running == (6 + (8 - 2) + 2) * 3600


@pytest.mark.requirement("URS-OEE-003")
def test_night_shifts_across_the_daylight_saving_changes_last_seven_and_nine_hours() -> None:
    spring = dt.datetime(2026, 3, 28, 12, tzinfo=UTC)  # Berlin: clocks go 02:00 → 03:00 on the 29th
    autumn = dt.datetime(2026, 10, 24, 12, tzinfo=UTC)  # Berlin: 03:00 → 02:00 on the 25th
    short = shift_windows([NIGHT], spring, spring + dt.timedelta(days=1), BERLIN)
    long = shift_windows([NIGHT], autumn, autumn + dt.timedelta(days=1), BERLIN)
    assert [w.end - w.start for w in short] == [dt.timedelta(hours=7)]
    assert [w.end - w.start for w in long] == [dt.timedelta(hours=9)]
    assert short[0].start == dt.datetime(2026, 3, 28, 21, tzinfo=UTC)  # 22:00 CET
    assert short[0].end == dt.datetime(2026, 3, 29, 4, tzinfo=UTC)  # 06:00 CEST
    whole_night = [Interval("R-101", StateKind.RUNNING, spring, spring + dt.timedelta(days=1))]
    spent = times(whole_night, short, spring, spring + dt.timedelta(days=1))
    assert spent.planned_busy == 7 * 3600 == spent.running


def test_shifts_only_on_their_days() -> None:
    weekdays = Shift("early", dt.time(6), dt.time(14), ("mon", "tue", "wed", "thu", "fri"))
    windows = shift_windows([weekdays], at(0), at(24 * 7), UTC)
    assert len(windows) == 5
    assert {w.day.weekday() for w in windows} == {0, 1, 2, 3, 4}


def test_nothing_planned_gives_no_ratio_instead_of_a_division_by_zero() -> None:
    spent = times([], [], at(0), at(24))
    kpis = Kpis(spent, Fraction(0), Fraction(0), Fraction(0))
    assert (kpis.availability, kpis.effectiveness, kpis.quality, kpis.oee) == (None, None, None, None)


def test_the_pareto_orders_reasons_by_time_lost() -> None:
    def stop(start: float, hours: float, reason: str | None) -> Interval:
        return Interval("R-101", StateKind.DOWN, at(start), at(start + hours), reason=reason)

    ranked = pareto([stop(1, 1, "Material / Late"), stop(3, 2, "Mechanical / Seal"), stop(6, 0.5, None)])
    assert [(r, s, c) for r, s, c in ranked] == [
        ("Mechanical / Seal", 7200, 1),
        ("Material / Late", 3600, 1),
        ("(no reason)", 1800, 1),
    ]


changes = st.lists(
    st.tuples(st.integers(0, 72 * 60), st.sampled_from([k for k in StateKind if k is not StateKind.OUT_OF_SHIFT])),
    max_size=30,
)
zones = st.sampled_from([UTC, BERLIN, ZoneInfo("America/New_York"), ZoneInfo("Australia/Lord_Howe")])
shift_sets = st.sampled_from([[EARLY], [NIGHT], [EARLY, Shift("late", dt.time(14), dt.time(22)), NIGHT], []])


@given(changes=changes, zone=zones, shifts=shift_sets, units=st.integers(1, 3))
def test_state_times_sum_to_the_calendar_and_availability_stays_between_0_and_1(
    changes: list[tuple[int, StateKind]], zone: ZoneInfo, shifts: list[Shift], units: int
) -> None:
    since, until = at(0), at(72)
    rows = [
        (f"U{u}", state, since + dt.timedelta(minutes=m), "", None, i)
        for u in range(units)
        for i, (m, state) in enumerate(sorted(changes, key=lambda c: c[0]))
    ]
    history = intervals_of(rows, until)
    windows = shift_windows(shifts, since, until, zone)
    spent = times(history, windows, since, until, units=units)
    assert sum(spent.by_state.values()) == spent.calendar == 72 * 3600 * units
    assert all(v >= 0 for v in spent.by_state.values())
    availability = Kpis(spent, Fraction(0), Fraction(0), Fraction(0)).availability
    assert availability is None or 0 <= availability <= 1
    for window, following in itertools.pairwise(windows):
        assert window.start < window.end <= following.start
