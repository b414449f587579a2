"""The batch record as HTML, cut into sections that can be laid out separately.

:func:`compose` turns ``record.json`` into a front part (cover and table of
contents) and body parts. Every part begins on a new page in the whole document
too, so rendering the parts one by one (in parallel) and joining them gives the
same pages as rendering :func:`whole_document` at once.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

import jinja2
from markupsafe import escape

from ebr.core.clock import from_rfc3339
from ebr.records.charts import trend_svg

PHASES_PER_PART = 60
EVENTS_PER_PART = 300
LIMIT_KEYS = ("target", "low", "high", "tolerance")


@dataclass(frozen=True)
class TocEntry:
    """A line of the table of contents (and a PDF bookmark)."""

    anchor: str
    title: str
    level: int


@dataclass
class Layout:
    """The parts of the record: front (cover + contents) and body parts in page order."""

    record: dict[str, Any]
    parts: list[str] = field(default_factory=list)
    toc: list[TocEntry] = field(default_factory=list)


def _when(value: str | None, tz: dt.tzinfo) -> str:
    if not value:
        return "—"
    local = from_rfc3339(value).astimezone(tz)
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()}"


def _limits(params: dict[str, Any]) -> str:
    unit = params.get("unit") or ""
    parts = []
    if params.get("target") is not None:
        parts.append(f"target {params['target']} {unit}".strip())
    if params.get("low") is not None or params.get("high") is not None:
        parts.append(f"limits {params.get('low', '—')} – {params.get('high', '—')} {unit}".strip())
    if params.get("tolerance") is not None:
        tol_unit = params.get("tolerance_unit") or unit
        parts.append(f"tolerance ± {params['tolerance']} {tol_unit}".strip())
    if params.get("min_duration") is not None:
        parts.append(f"duration {params['min_duration']} – {params.get('max_duration') or '∞'} {unit}".strip())
    if params.get("choices"):
        parts.append("choices " + ", ".join(map(str, params["choices"])))
    return "; ".join(parts)


def _words(value: Any) -> str:
    """A parameter value as a person reads it: lists joined, setpoints as "tag = value unit", codes as words."""
    if isinstance(value, dict):
        if {"tag", "value"} <= value.keys():
            return f"{value['tag']} = {value['value']} {value.get('unit') or ''}".strip()
        if "param" in value and len(value) == 1:
            return f"formula parameter {value['param']}"
        return ", ".join(f"{k.replace('_', ' ')} {_words(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_words(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).replace("_", " ") if isinstance(value, str) and value.islower() else str(value)


def _other_params(params: dict[str, Any]) -> str:
    skip = {*LIMIT_KEYS, "unit", "tolerance_unit", "choices", "min_duration", "max_duration", "text", "prompt"}
    shown = []
    for key, value in params.items():
        if key in skip or value in (None, "", [], {}):
            continue
        shown.append(f"{key.replace('_', ' ')}: {_words(value)}")
    return "; ".join(shown)


def _phase_type(code: str | None) -> str:
    """A phase type in words (``equipment_check`` → "equipment check")."""
    return (code or "").replace("_", " ")


@cache
def environment() -> jinja2.Environment:
    """The record's Jinja environment (built once per process)."""
    loader = jinja2.FunctionLoader(_load)
    env = jinja2.Environment(loader=loader, autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["limits"] = _limits
    env.filters["other_params"] = _other_params
    env.filters["phase_type"] = _phase_type
    return env


def _load(name: str) -> str:
    return resources.files("ebr.records").joinpath("templates", name).read_text(encoding="utf-8")


def stylesheet() -> str:
    return _load("record.css")


def _context(record: dict[str, Any]) -> dict[str, Any]:
    tz = zoneinfo.ZoneInfo(record["printed"]["timezone"])
    people = record["people"]

    def who(user: str | None) -> str:
        if not user:
            return "—"
        return f"{people[user]} ({user})" if user in people else user

    corr: dict[str, int] = {}
    for item in record["corrections"]:
        corr[item["entry"]] = corr[item["corrects"]] = item["number"]
    return {
        "r": record,
        "when": lambda v: _when(v, tz),
        "who": who,
        "sig": record["signatures"],
        "corr": corr,
        "change": _change,
    }


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "…"


def _change(event: dict[str, Any]) -> str:
    """One line for an audit event's change: ``key: old → new``; a signature by its meaning and signer."""
    before, after = event.get("before") or {}, event.get("after") or {}
    if event["action"] == "signature.applied":
        who = f"{after.get('printed_name')} ({after.get('signer')})"
        return f"{after.get('meaning')} by {who}, signature {after.get('id')}"
    keys = list(dict.fromkeys([*before, *after]))
    parts = [
        f"{k}: {_short(before[k])} → {_short(after.get(k))}" if k in before else f"{k}: {_short(after[k])}"
        for k in keys
    ]
    text = "; ".join(parts)
    return text if len(text) <= 400 else text[:397] + "…"


def _render(name: str, record: dict[str, Any], **extra: Any) -> str:
    return environment().get_template(name).render(**_context(record), **extra)


def _step_groups(steps: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Steps cut at operation boundaries into groups of about PHASES_PER_PART phases."""
    groups: list[list[dict[str, Any]]] = [[]]
    phases = 0
    for step in steps:
        if step["level"] != "phase" and phases >= PHASES_PER_PART:
            groups.append([])
            phases = 0
        groups[-1].append(step)
        phases += step["level"] == "phase"
    return [g for g in groups if g]


def compose(record: dict[str, Any]) -> Layout:
    """Cut ``record`` into body parts (HTML fragments) and the contents they provide."""
    layout = Layout(record)
    layout.toc.append(TocEntry("steps", "Steps", 1))
    for group in _step_groups(record["steps"]):
        layout.parts.append(_render("steps.html", record, steps=group, first=not layout.parts))
    layout.toc.extend(
        TocEntry(f"step-{s['path']}", f"{s['path']} {s['name']}", 2)
        for s in record["steps"]
        if s["level"] in ("unit_procedure", "operation")
    )
    for anchor, title, template in (
        ("deviations", "Deviations and their handling", "deviations.html"),
        ("materials", "Materials and equipment", "materials.html"),
        ("trends", "Trends", "trends.html"),
        ("review", "Review and release", "review.html"),
    ):
        layout.toc.append(TocEntry(anchor, title, 1))
        charts = _charts(record) if anchor == "trends" else []
        layout.parts.append(_render(template, record, charts=charts))
    layout.toc.append(TocEntry("audit", "Appendix: audit trail of the batch", 1))
    events = record["audit_trail"]["events"]
    for start in range(0, max(len(events), 1), EVENTS_PER_PART):
        chunk = events[start : start + EVENTS_PER_PART]
        layout.parts.append(_render("audit.html", record, events=chunk, first=start == 0))
    return layout


def _varies(points: list[dict[str, Any]]) -> bool:
    """True when the signal moved: at least two points and more than one value among min, mean and max."""
    values = {Decimal(p[key]) for p in points for key in ("min", "mean", "max")}
    return len(points) >= 2 and len(values) > 1


def _charts(record: dict[str, Any]) -> list[dict[str, Any]]:
    """A chart per trend that moved; a steady trend is one table row (a flat line tells nothing more)."""
    tz = zoneinfo.ZoneInfo(record["printed"]["timezone"])
    found = []
    for t in record["trends"]:
        points = t["points"]
        title = f"{t['tag']} during {t['step']}"
        svg = trend_svg(points, title=title, tz=tz) if _varies(points) else ""
        found.append({"step": t["step"], "tag": t["tag"], "svg": svg, "points": len(points),
                      "value": points[-1]["last"] if points else "", "start": points[0]["at"] if points else None,
                      "end": points[-1]["at"] if points else None})  # fmt: skip
    return found


def front(layout: Layout, pages: dict[str, int] | None) -> str:
    """Cover and contents; ``pages`` gives the page of each anchor, or None to let the layout count."""
    return _render("front.html", layout.record, toc=layout.toc, pages=pages)


def page_css(record: dict[str, Any], *, numbered: bool, margin_text: bool = True) -> str:
    """``@page`` rules: header and footer with batch id, print time, printer and "page x of y"."""
    return _render("page.css", record, numbered=numbered, margin_text=margin_text)


def document(body: str, record: dict[str, Any], *, numbered: bool, margin_text: bool = True) -> str:
    """A complete HTML document around ``body``."""
    css = stylesheet() + page_css(record, numbered=numbered, margin_text=margin_text)
    title = f"Batch record {record['batch']['number']}"
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{css}</style></head><body>{body}</body></html>"
    )


def whole_document(record: dict[str, Any]) -> str:
    """The whole record as one HTML document (page numbers and contents counted by the layout engine)."""
    layout = compose(record)
    return document(front(layout, None) + "".join(layout.parts), record, numbered=True)
