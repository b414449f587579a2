"""The performance file: shift calendar, stop threshold, ideal phase times and a downtime
reason tree per area (``$EBR_DATA_DIR/performance.yaml``, or ``EBR_PERFORMANCE_FILE``).

Read through ``ebr.core.inputs`` (size, encoding, strict YAML); every problem is one line
``file:line: problem: what to do``, all of them at once::

    timezone: Europe/Berlin          # default: EBR_PLANT_TIMEZONE
    stop_threshold_minutes: 5        # a stop at least this long needs a reason
    shifts:
      - {name: early, start: "06:00", end: "14:00", days: [mon, tue, wed, thu, fri]}
      - {name: night, start: "22:00", end: "06:00"}     # ends the next day
    ideal_seconds: {instruction: 60, weigh_dispense: 300}   # per phase type
    areas:
      Formulation:
        reasons:
          Mechanical: {Agitator: null, Pump seal: null}
          Material: {Late delivery: null}

A file that does not exist means: one shift around the clock, every day; the default tree.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from ebr.core.errors import ValidationError
from ebr.core.inputs import DEFAULT, Limits, decode, load_yaml, read_file
from ebr.performance.kpi import DAYS, Shift

SEPARATOR = " / "
DEFAULT_NAME = "performance.yaml"
DEFAULT_REASONS: Mapping[str, Any] = {
    "Equipment failure": {"Mechanical": None, "Electrical": None, "Automation / communication": None},
    "Material": {"Not available": None, "Out of specification": None},
    "People": {"Not available": None, "Training": None},
    "Process": {"Waiting for QA": None, "Waiting for verification": None, "Deviation": None},
    "Other": None,
}
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class PerformanceConfig:
    """The parsed performance file."""

    timezone: str | None = None
    stop_threshold: dt.timedelta = dt.timedelta(minutes=5)
    shifts: tuple[Shift, ...] = (Shift("day", dt.time(0), dt.time(0)),)
    ideal_seconds: Mapping[str, Decimal] = field(default_factory=dict)
    reasons: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    source: str = "(defaults)"

    def tree(self, area: str) -> Mapping[str, Any]:
        """The reason tree of ``area`` (the default tree when the file names none)."""
        return self.reasons.get(area) or DEFAULT_REASONS

    def children(self, area: str, path: str) -> list[str]:
        """The reasons one level below ``path`` ("" = the top level); [] for a leaf."""
        node: Any = self.tree(area)
        for part in [p for p in path.split(SEPARATOR) if p] if path else []:
            if not isinstance(node, Mapping) or part not in node:
                raise ValidationError(f"{path!r} is not a downtime reason of {area}; choose one from the list")
            node = node[part]
        return list(node) if isinstance(node, Mapping) else []

    def is_leaf(self, area: str, path: str) -> bool:
        return bool(path) and not self.children(area, path)

    def zone(self, fallback: str) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone or fallback)


class _Lines:
    """Line numbers of the YAML nodes by path (for ``file:line`` in refusals)."""

    def __init__(self, text: str) -> None:
        self.lines: dict[tuple[str | int, ...], int] = {}
        # load_yaml has already refused anything compose could fail on.
        with contextlib.suppress(yaml.YAMLError):
            self._walk(yaml.compose(text, Loader=yaml.SafeLoader), ())

    def _walk(self, node: yaml.Node | None, path: tuple[str | int, ...]) -> None:
        if node is None:
            return
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                self.lines[(*path, str(key.value))] = key.start_mark.line + 1
                self._walk(value, (*path, str(key.value)))
                self.lines[(*path, str(key.value))] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, (*path, i))

    def at(self, path: tuple[str | int, ...]) -> int:
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)


def parse(data: bytes, source: str, *, limits: Limits = DEFAULT) -> PerformanceConfig:
    """The configuration in ``data``; ValidationError listing every problem as ``source:line: …``."""
    text = decode(data, source, limits=limits)
    doc = load_yaml(text, source, limits=limits, checked=True)
    lines = _Lines(text)
    problems: list[str] = []

    def refuse(path: tuple[str | int, ...], problem: str) -> None:
        problems.append(f"{source}:{lines.at(path)}: {problem}")

    if doc is None:
        doc = {}
    if not isinstance(doc, Mapping):
        raise ValidationError(
            f"{source}:1: the file must be a mapping (timezone, shifts, areas …); see docs/performance.md"
        )
    known = {"timezone", "stop_threshold_minutes", "shifts", "ideal_seconds", "areas"}
    for key in doc:
        if key not in known:
            refuse((str(key),), f"unknown key {key!r}: use one of {', '.join(sorted(known))}")
    zone = doc.get("timezone")
    if zone is not None and (not isinstance(zone, str) or not _zone_ok(zone)):
        refuse(("timezone",), f"timezone {zone!r} is not an IANA time zone: write e.g. Europe/Berlin")
    threshold = _threshold(doc.get("stop_threshold_minutes", Decimal(5)), refuse)
    shifts = _shifts(doc.get("shifts"), refuse)
    ideal = _ideal(doc.get("ideal_seconds") or {}, refuse)
    reasons = _areas(doc.get("areas") or {}, refuse)
    if problems:
        raise ValidationError(f"{source}: {len(problems)} problem(s); fix them and read it again", problems)
    return PerformanceConfig(
        timezone=zone,
        stop_threshold=threshold,
        shifts=shifts or PerformanceConfig.shifts,
        ideal_seconds=ideal,
        reasons=reasons,
        source=source,
    )


def _show(value: Any) -> str:
    return format(value, "f") if isinstance(value, Decimal) else repr(value)


def _zone_ok(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _threshold(raw: Any, refuse: Any) -> dt.timedelta:
    if isinstance(raw, bool) or not isinstance(raw, Decimal | int) or not 0 <= raw <= 1440:
        refuse(
            ("stop_threshold_minutes",), f"stop_threshold_minutes {_show(raw)} must be minutes from 0 to 1440, e.g. 5"
        )
        return dt.timedelta(minutes=5)
    return dt.timedelta(seconds=int(Decimal(raw) * 60))


def _time(raw: Any, path: tuple[str | int, ...], refuse: Any) -> dt.time | None:
    match = _TIME.match(raw) if isinstance(raw, str) else None
    if match is None:
        refuse(path, f'{path[-1]} {raw!r} is not a time: write it quoted as "HH:MM", e.g. "06:00"')
        return None
    return dt.time(int(match.group(1)), int(match.group(2)))


def _shifts(raw: Any, refuse: Any) -> tuple[Shift, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        refuse(("shifts",), "shifts must be a list of {name, start, end, days}")
        return ()
    out: list[Shift] = []
    for i, item in enumerate(raw):
        where: tuple[str | int, ...] = ("shifts", i)
        if not isinstance(item, Mapping):
            refuse(where, "a shift must be a mapping with name, start and end")
            continue
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            refuse((*where, "name"), "a shift needs a name, e.g. name: early")
        start, end = (
            _time(item.get("start"), (*where, "start"), refuse),
            _time(item.get("end"), (*where, "end"), refuse),
        )
        days = item.get("days", list(DAYS))
        if not isinstance(days, list) or not days or any(d not in DAYS for d in days):
            refuse((*where, "days"), f"days must list some of {', '.join(DAYS)}")
            days = list(DAYS)
        for key in item:
            if key not in ("name", "start", "end", "days"):
                refuse((*where, str(key)), f"unknown key {key!r} in a shift: use name, start, end, days")
        if isinstance(name, str) and start is not None and end is not None:
            out.append(Shift(name.strip(), start, end, tuple(days)))
    _overlaps(out, refuse)
    return tuple(out)


def _minutes(shift: Shift) -> list[tuple[int, int]]:
    """The shift's minutes of the week as [start, end) ranges (a night shift wraps into the next day)."""
    begin, finish = shift.start.hour * 60 + shift.start.minute, shift.end.hour * 60 + shift.end.minute
    length = (finish - begin) % 1440 or 1440
    week = 7 * 1440
    out = []
    for day in shift.days:
        s = DAYS.index(day) * 1440 + begin
        e = s + length
        out += [(s, min(e, week))] + ([(0, e - week)] if e > week else [])
    return out


def _overlaps(shifts: list[Shift], refuse: Any) -> None:
    for i, a in enumerate(shifts):
        for j, b in enumerate(shifts[:i]):
            if any(s1 < e2 and s2 < e1 for s1, e1 in _minutes(a) for s2, e2 in _minutes(b)):
                refuse(
                    ("shifts", i), f"shift {a.name!r} overlaps shift {b.name!r} (#{j + 1}): make them follow each other"
                )
                return


def _ideal(raw: Any, refuse: Any) -> dict[str, Decimal]:
    if not isinstance(raw, Mapping):
        refuse(("ideal_seconds",), "ideal_seconds must map a phase type to seconds, e.g. instruction: 60")
        return {}
    out = {}
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, Decimal | int) or value <= 0:
            problem = f"ideal_seconds.{key} {_show(value)} must be a positive number of seconds"
            refuse(("ideal_seconds", str(key)), problem)
            continue
        out[str(key)] = Decimal(value)
    return out


def _areas(raw: Any, refuse: Any) -> dict[str, Mapping[str, Any]]:
    if not isinstance(raw, Mapping):
        refuse(("areas",), "areas must map an area name to {reasons: …}")
        return {}
    out: dict[str, Mapping[str, Any]] = {}
    for area, body in raw.items():
        where: tuple[str | int, ...] = ("areas", str(area))
        if not isinstance(body, Mapping) or not isinstance(body.get("reasons"), Mapping) or not body["reasons"]:
            refuse(where, f"area {area!r} needs reasons: a mapping of reason → sub-reasons (null for a leaf)")
            continue
        if _tree_ok(body["reasons"], (*where, "reasons"), refuse, 1):
            out[str(area)] = body["reasons"]
    return out


def _tree_ok(node: Mapping[str, Any], path: tuple[str | int, ...], refuse: Any, depth: int) -> bool:
    ok = True
    if depth > 4:
        refuse(path, "a reason tree is at most 4 levels deep (one tap per level on the tablet)")
        return False
    for key, child in node.items():
        name = str(key)
        if not name.strip() or SEPARATOR.strip() in name or len(name) > 80:
            refuse((*path, name), f"reason {name!r} must be 1–80 characters without '/'")
            ok = False
        if child is None:
            continue
        if not isinstance(child, Mapping) or not child:
            refuse((*path, name), f"reason {name!r}: sub-reasons must be a mapping (or null for a leaf)")
            ok = False
        elif not _tree_ok(child, (*path, name), refuse, depth + 1):
            ok = False
    return ok


def load(path: Path, *, limits: Limits = DEFAULT) -> PerformanceConfig:
    """The configuration at ``path``; the defaults when it does not exist."""
    if not path.is_file():
        return PerformanceConfig()
    return parse(read_file(path, limits=limits), path.name, limits=limits)
