"""Trend charts as SVG (pure): a stepped line of the bucket means with the min–max band, labelled axes.

SVG ``<text>`` carries an explicit font-family: WeasyPrint needs it to embed a font.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from html import escape
from typing import Any

from ebr.core.clock import from_rfc3339

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 36
FONT = 'font-family="DejaVu Sans" font-size="10"'


def _scale(value: float, lo: float, hi: float, start: float, length: float) -> float:
    return start + (value - lo) / (hi - lo) * length if hi > lo else start + length / 2


def _points(xs: Sequence[float], ys: Sequence[float], box: tuple[float, float, float, float]) -> str:
    x_lo, x_hi, y_lo, y_hi = box
    width, height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    return " ".join(
        f"{_scale(x, x_lo, x_hi, LEFT, width):.1f},{HEIGHT - BOTTOM - _scale(y, y_lo, y_hi, 0, height):.1f}"
        for x, y in zip(xs, ys, strict=True)
    )


def _stepped(xs: Sequence[float], ys: Sequence[float]) -> tuple[list[float], list[float]]:
    """Hold each bucket's value until the next one: the runtime records on change, so a
    straight line between two buckets would draw values that never were."""
    out_x, out_y = [xs[0]], [ys[0]]
    for x, y in zip(xs[1:], ys[1:], strict=True):
        out_x += [x, x]
        out_y += [out_y[-1], y]
    return out_x, out_y


def trend_svg(points: Sequence[dict[str, Any]], *, title: str, unit: str = "", tz: dt.tzinfo = dt.UTC) -> str:
    """An SVG line chart of trend ``points`` (``at``, ``min``, ``mean``, ``max`` as in record.json)."""
    if not points:
        return ""
    times = [from_rfc3339(p["at"]) for p in points]
    # Floats only for drawing: the recorded values stay decimal strings in record.json.
    xs = [(t - times[0]).total_seconds() for t in times]
    means = [float(Decimal(p["mean"])) for p in points]
    lows = [float(Decimal(p["min"])) for p in points]
    highs = [float(Decimal(p["max"])) for p in points]
    y_lo, y_hi = min(lows), max(highs)
    pad = (y_hi - y_lo) * 0.05 or 1.0
    box = (xs[0], xs[-1] if xs[-1] > xs[0] else xs[0] + 1, y_lo - pad, y_hi + pad)
    hx, hy = _stepped(xs, highs)
    lx, ly = _stepped(xs, lows)
    mx, my = _stepped(xs, means)
    band = _points(hx, hy, box) + " " + _points(list(reversed(lx)), list(reversed(ly)), box)
    start, end = times[0].astimezone(tz), times[-1].astimezone(tz)
    axis_y = HEIGHT - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}">',
        f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" height="{axis_y - TOP}" '
        'fill="#ffffff" stroke="#888888" stroke-width="0.5"/>',
        f'<polygon points="{band}" fill="#c9daf0" stroke="none"/>',
        f'<polyline points="{_points(mx, my, box)}" fill="none" stroke="#1f4e8c" stroke-width="1.2"/>',
        f'<text x="{LEFT - 4}" y="{TOP + 8}" text-anchor="end" {FONT}>{y_hi:.4g}</text>',
        f'<text x="{LEFT - 4}" y="{axis_y}" text-anchor="end" {FONT}>{y_lo:.4g}</text>',
        f'<text x="{LEFT - 4}" y="{(TOP + axis_y) / 2}" text-anchor="end" {FONT}>{escape(unit)}</text>',
        f'<text x="{LEFT}" y="{axis_y + 14}" {FONT}>{start:%H:%M:%S}</text>',
        f'<text x="{WIDTH - RIGHT}" y="{axis_y + 14}" text-anchor="end" {FONT}>{end:%H:%M:%S}</text>',
        f'<text x="{WIDTH / 2}" y="{axis_y + 28}" text-anchor="middle" {FONT}>{escape(title)} '
        f"({len(points)} points, {start:%Y-%m-%d %Z})</text>",
        "</svg>",
    ]
    return "".join(parts)
