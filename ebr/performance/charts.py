"""Performance charts as SVG drawn by matplotlib, in the style of ``ebr.analytics.charts``
(text as paths, stable ids, one Figure per chart, fixed margins): the state timeline per
unit, the OEE trend by day, and the Pareto of downtime reasons."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from fractions import Fraction

from matplotlib.figure import Figure

from ebr.analytics.charts import HEIGHT_IN, WIDTH_IN  # importing it also sets the shared rcParams
from ebr.performance.kpi import Interval, StateKind

COLOURS = {
    StateKind.RUNNING: "#1b7f3b",
    StateKind.IDLE: "#c9a400",
    StateKind.HELD: "#d9822b",
    StateKind.DOWN: "#b3261e",
    StateKind.PLANNED: "#5b7fa6",
    StateKind.OUT_OF_SHIFT: "#9e9e9e",
}


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def timeline_svg(intervals: Sequence[Interval], units: Sequence[str], zone: dt.tzinfo, title: str) -> str:
    """One row per unit, a bar per state interval, coloured by state (plant time on the axis)."""
    figure = Figure(figsize=(WIDTH_IN, max(1.6, 0.45 * len(units) + 1.0)))
    figure.subplots_adjust(left=0.12, right=0.84, top=0.88, bottom=0.22)
    axis = figure.subplots()
    rows = {unit: i for i, unit in enumerate(units)}
    origin = min((i.start for i in intervals), default=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    end = max((i.end for i in intervals), default=origin + dt.timedelta(hours=1))

    def hours(moment: dt.datetime) -> float:
        return (moment - origin).total_seconds() / 3600

    for state in StateKind:
        bars = [(hours(i.start), hours(i.end) - hours(i.start), rows[i.unit]) for i in intervals
                if i.state is state and i.unit in rows]  # fmt: skip
        for start, width, row in bars:
            axis.broken_barh([(start, width)], (row - 0.35, 0.7), facecolors=COLOURS[state])
        if bars:
            axis.bar(0, 0, color=COLOURS[state], label=state.value.replace("_", " "))
    axis.set_yticks(range(len(units)), list(units), fontsize=7)
    axis.set_ylim(-0.6, len(units) - 0.4)
    span = max(hours(end), 1e-6)
    axis.set_xlim(0, span)
    ticks = [span * k / 8 for k in range(9)]
    labels = [(origin + dt.timedelta(hours=t)).astimezone(zone).strftime("%m-%d %H:%M") for t in ticks]
    axis.set_xticks(ticks, labels, fontsize=6, rotation=30, ha="right")
    axis.set_title(title, fontsize=9)
    if intervals:
        axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _svg(figure)


def oee_trend_svg(days: Sequence[tuple[dt.date, Fraction | None, Fraction | None]], title: str) -> str:
    """OEE and availability per plant day (a gap where nothing was planned)."""
    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN * 0.8))
    figure.subplots_adjust(left=0.08, right=0.84, top=0.9, bottom=0.22)
    axis = figure.subplots()
    xs = list(range(len(days)))
    nan = float("nan")  # no point where nothing was planned
    axis.plot(xs, [nan if o is None else float(o) * 100 for _, o, _ in days], marker="o", markersize=3,
              color="#1f4e8c", label="OEE")  # fmt: skip
    axis.plot(xs, [nan if a is None else float(a) * 100 for _, _, a in days], linestyle="--", linewidth=0.8,
              color="#1b7f3b", label="availability")  # fmt: skip
    axis.set_ylim(0, 105)
    axis.set_ylabel("%")
    step = max(1, len(days) // 12)
    axis.set_xticks(xs[::step], [d.isoformat() for d, _, _ in days][::step], fontsize=6, rotation=30, ha="right")
    axis.set_title(title, fontsize=9)
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _svg(figure)


def pareto_svg(rows: Sequence[tuple[str, Fraction, int]], title: str) -> str:
    """Downtime minutes by reason, largest first, with the cumulative share."""
    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN))
    figure.subplots_adjust(left=0.08, right=0.9, top=0.9, bottom=0.38)
    axis = figure.subplots()
    labels = [r for r, _, _ in rows]
    minutes = [float(s) / 60 for _, s, _ in rows]
    axis.bar(range(len(rows)), minutes, color="#b3261e")
    axis.set_xticks(range(len(rows)), labels, rotation=35, ha="right", fontsize=6)
    axis.set_ylabel("minutes")
    total = sum(minutes) or 1.0
    share = axis.twinx()
    running = 0.0
    cumulative = []
    for m in minutes:
        running += m
        cumulative.append(running / total * 100)
    share.plot(range(len(rows)), cumulative, color="#1f4e8c", marker="o", markersize=3)
    share.set_ylim(0, 105)
    share.set_ylabel("cumulative %")
    axis.set_title(title, fontsize=9)
    return _svg(figure)
