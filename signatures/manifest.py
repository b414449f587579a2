"""The signature manifestation (21 CFR 11.50): printed name, date and time with zone, meaning.

One function used by the UI, the PDF and every export so they all read the same.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

SEPARATOR = " — "


def _offset(moment: dt.datetime) -> str:
    delta = moment.utcoffset() or dt.timedelta(0)
    sign = "-" if delta < dt.timedelta(0) else "+"
    minutes = abs(int(delta.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def manifestation(printed_name: str, ts: dt.datetime, meaning: str, tz: str | dt.tzinfo = "UTC") -> str:
    """``"Alice Example — 2026-11-24 21:15:59 CET (UTC+01:00) — performed"``.

    ``ts`` must be timezone-aware; it is shown in ``tz`` (a zone name or tzinfo),
    with the zone's abbreviation and its offset from UTC so the time is unambiguous.
    """
    if ts.tzinfo is None:
        raise ValueError("naive datetime: a signature time must carry its time zone")
    zone = zoneinfo.ZoneInfo(tz) if isinstance(tz, str) else tz
    local = ts.astimezone(zone)
    when = f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()} ({_offset(local)})"
    return SEPARATOR.join((printed_name, when, meaning))
