"""KPI arithmetic of ISO 22400-2 on a state history (pure: no database, no web framework).

Times are exact: every duration is a :class:`~fractions.Fraction` of seconds built from
``timedelta`` microseconds, and every ratio a Fraction, so availability × effectiveness ×
quality is exactly the OEE (docs/performance.md has the definitions)::

    calendar time (window)       = out of shift + planned busy time (PBT) + planned downtime
    planned busy time (PBT)      = shift time − planned downtime
    actual production time (APT) = running time inside shifts
    availability                 = APT / PBT
    effectiveness (performance)  = ideal time of what was made / APT
    quality                      = good quantity / produced quantity
    OEE                          = availability × effectiveness × quality
    MTBF                         = APT / failures      MTTR = down time / failures

A shift is a local-time rule (days of the week, start, end) in the plant's zone; a shift
that ends at or before its start crosses midnight. Local times are turned into UTC with
``zoneinfo``, so a shift across a daylight-saving change is one hour shorter or longer.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction

UTC = dt.UTC
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class StateKind(StrEnum):
    """The ISO 22400 time model's states of a work unit."""

    RUNNING = "running"
    IDLE = "idle"
    HELD = "held"
    DOWN = "down"
    PLANNED = "planned"
    OUT_OF_SHIFT = "out_of_shift"


STOPS = (StateKind.HELD, StateKind.DOWN)
"""States that are an unplanned stop (a downtime reason is assigned to them)."""


@dataclass(frozen=True)
class Shift:
    """A shift rule: ``start``–``end`` local time on ``days`` (the day the shift starts)."""

    name: str
    start: dt.time
    end: dt.time
    days: tuple[str, ...] = DAYS


@dataclass(frozen=True)
class ShiftWindow:
    """One worked shift: its rule's name, the local day it started, and its UTC bounds."""

    name: str
    day: dt.date
    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class Interval:
    """A unit in one state from ``start`` to ``end`` (UTC)."""

    unit: str
    state: StateKind
    start: dt.datetime
    end: dt.datetime
    cause: str = ""
    batch: str | None = None
    reason: str | None = None
    id: int | None = None

    @property
    def seconds(self) -> Fraction:
        return seconds(self.end - self.start)


def seconds(delta: dt.timedelta) -> Fraction:
    """An exact number of seconds."""
    return Fraction(delta // dt.timedelta(microseconds=1), 1_000_000)


def _local(day: dt.date, at: dt.time, zone: dt.tzinfo) -> dt.datetime:
    # A wall time in the spring-forward gap does not exist; ``fold=0`` takes the offset
    # before the change, which lands it just after the gap once normalized through UTC.
    return dt.datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def shift_windows(
    shifts: Sequence[Shift], since: dt.datetime, until: dt.datetime, zone: dt.tzinfo
) -> list[ShiftWindow]:
    """Every shift worked between ``since`` and ``until``, clipped to them, in time order."""
    first = since.astimezone(zone).date() - dt.timedelta(days=1)
    last = until.astimezone(zone).date()
    found: list[ShiftWindow] = []
    day = first
    while day <= last:
        for shift in shifts:
            if DAYS[day.weekday()] not in shift.days:
                continue
            start = _local(day, shift.start, zone)
            end_day = day if shift.end > shift.start else day + dt.timedelta(days=1)
            end = _local(end_day, shift.end, zone)
            lo, hi = max(start, since), min(end, until)
            if lo < hi:
                found.append(ShiftWindow(shift.name, day, lo, hi))
        day += dt.timedelta(days=1)
    found.sort(key=lambda w: w.start)
    return _merged(found)


def _merged(windows: list[ShiftWindow]) -> list[ShiftWindow]:
    """Overlapping shifts (a configuration error the reader refuses) never count time twice."""
    out: list[ShiftWindow] = []
    for window in windows:
        if out and window.start < out[-1].end:
            if window.end > out[-1].end:
                out.append(ShiftWindow(window.name, window.day, out[-1].end, window.end))
            continue
        out.append(window)
    return out


@dataclass
class Times:
    """Seconds in each state over a window (inside shifts, but ``out_of_shift``)."""

    calendar: Fraction = Fraction(0)
    by_state: dict[StateKind, Fraction] = field(default_factory=lambda: {k: Fraction(0) for k in StateKind})
    failures: int = 0
    minor_stops: int = 0

    @property
    def planned_busy(self) -> Fraction:
        """PBT: the shift time less planned downtime."""
        return self.calendar - self.by_state[StateKind.OUT_OF_SHIFT] - self.by_state[StateKind.PLANNED]

    @property
    def running(self) -> Fraction:
        return self.by_state[StateKind.RUNNING]


_US = dt.timedelta(microseconds=1)
_PER_SECOND = 1_000_000


def unit_times(
    intervals: Sequence[Interval],
    windows: Sequence[ShiftWindow],
    since: dt.datetime,
    until: dt.datetime,
    *,
    units: Sequence[str] = (),
    threshold: dt.timedelta = dt.timedelta(minutes=5),
) -> dict[str, Times]:
    """Seconds per state of each unit over ``since``–``until``.

    Time before a unit's first known state counts as planned downtime (no order); time
    outside the (sorted, disjoint) shift windows is out of shift. Failures: ``down`` stops
    at least ``threshold`` long; shorter held or down stops are minor stops. One sweep per
    unit over its intervals and the windows, summing integer microseconds (exact, and fast
    enough for a year of history); Fractions of seconds only at the end."""
    shift_us = sum((w.end - w.start) // _US for w in windows)
    calendar_us = (until - since) // _US
    limit = threshold // _US
    by_unit: dict[str, list[Interval]] = {u: [] for u in units}
    for i in intervals:
        by_unit.setdefault(i.unit, []).append(i)
    out: dict[str, Times] = {}
    for unit, mine in by_unit.items():
        mine.sort(key=lambda i: i.start)
        spent = dict.fromkeys(StateKind, 0)
        failures = minor = w = 0
        for i in mine:
            lo_i, hi_i = max(i.start, since), min(i.end, until)
            if lo_i >= hi_i:
                continue
            if i.state in STOPS:
                if (hi_i - lo_i) // _US < limit:
                    minor += 1
                elif i.state is StateKind.DOWN:
                    failures += 1
            while w < len(windows) and windows[w].end <= lo_i:
                w += 1
            k = w
            while k < len(windows) and windows[k].start < hi_i:
                lo, hi = max(lo_i, windows[k].start), min(hi_i, windows[k].end)
                if lo < hi:
                    spent[i.state] += (hi - lo) // _US
                k += 1
        spent[StateKind.PLANNED] += shift_us - sum(spent.values())
        spent[StateKind.OUT_OF_SHIFT] = calendar_us - shift_us
        out[unit] = Times(
            calendar=Fraction(calendar_us, _PER_SECOND),
            by_state={k: Fraction(v, _PER_SECOND) for k, v in spent.items()},
            failures=failures,
            minor_stops=minor,
        )
    return out


def total(parts: Iterable[Times]) -> Times:
    """The times of several units together (an area, a product)."""
    result = Times()
    for part in parts:
        result.calendar += part.calendar
        for kind, value in part.by_state.items():
            result.by_state[kind] += value
        result.failures += part.failures
        result.minor_stops += part.minor_stops
    return result


def times(
    intervals: Sequence[Interval],
    windows: Sequence[ShiftWindow],
    since: dt.datetime,
    until: dt.datetime,
    *,
    units: int = 1,
    threshold: dt.timedelta = dt.timedelta(minutes=5),
) -> Times:
    """The times of ``units`` units together (units with no interval count as planned: no order)."""
    named = sorted({i.unit for i in intervals})
    named += [f"(unit {n} without history)" for n in range(units - len(named))]
    return total(unit_times(intervals, windows, since, until, units=named, threshold=threshold).values())


def ratio(part: Fraction, whole: Fraction) -> Fraction | None:
    """``part / whole``, or None when nothing was planned (no division by zero)."""
    return None if whole == 0 else part / whole


@dataclass(frozen=True)
class Kpis:
    """The ISO 22400-2 figures of one scope (unit, area, product or shift) and window."""

    times: Times
    ideal_seconds: Fraction
    produced: Fraction
    good: Fraction

    @property
    def availability(self) -> Fraction | None:
        return ratio(self.times.running, self.times.planned_busy)

    @property
    def effectiveness(self) -> Fraction | None:
        return ratio(self.ideal_seconds, self.times.running)

    @property
    def quality(self) -> Fraction | None:
        return ratio(self.good, self.produced)

    @property
    def oee(self) -> Fraction | None:
        a, e, q = self.availability, self.effectiveness, self.quality
        return None if a is None or e is None or q is None else a * e * q

    @property
    def mtbf(self) -> Fraction | None:
        """Mean operating time between failures, seconds."""
        return None if self.times.failures == 0 else self.times.running / self.times.failures

    @property
    def mttr(self) -> Fraction | None:
        """Mean time to repair (down time per failure), seconds."""
        return None if self.times.failures == 0 else self.times.by_state[StateKind.DOWN] / self.times.failures


def intervals_of(
    rows: Sequence[tuple[str, StateKind, dt.datetime, str, str | None, int | None]], until: dt.datetime
) -> list[Interval]:
    """State changes ``(unit, state, since, cause, batch, id)`` in time order → intervals; the
    last state of each unit lasts until ``until``."""
    by_unit: dict[str, list[tuple[str, StateKind, dt.datetime, str, str | None, int | None]]] = {}
    for row in rows:
        by_unit.setdefault(row[0], []).append(row)
    out: list[Interval] = []
    for unit, changes in by_unit.items():
        for this, following in zip(changes, [*changes[1:], None], strict=True):
            end = until if following is None else following[2]
            if this[2] < end:
                out.append(Interval(unit, this[1], this[2], end, this[3], this[4], None, this[5]))
    return out


def pareto(stops: Iterable[Interval], *, unassigned: str = "(no reason)") -> list[tuple[str, Fraction, int]]:
    """Stop time and count by downtime reason, largest first (ties by name)."""
    totals: dict[str, tuple[Fraction, int]] = {}
    for stop in stops:
        key = stop.reason or unassigned
        spent, count = totals.get(key, (Fraction(0), 0))
        totals[key] = (spent + stop.seconds, count + 1)
    return sorted(((k, s, c) for k, (s, c) in totals.items()), key=lambda t: (-t[1], t[0]))


def zone(name: str) -> zoneinfo.ZoneInfo:
    """The plant's time zone by IANA name."""
    return zoneinfo.ZoneInfo(name)
