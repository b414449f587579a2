"""Charts as SVG, drawn by matplotlib's SVG backend (no pyplot state: one Figure per chart).

Text is drawn as paths (``svg.fonttype = "path"``): the SVG needs no font where it is
shown (browser image, WeasyPrint PDF). The web layer serves it as an image with
its own Content-Security-Policy; pages never inline it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from matplotlib import rcParams
from matplotlib.figure import Figure

from ebr.analytics import stats
from ebr.analytics.services import Chart

rcParams["svg.fonttype"] = "path"
rcParams["svg.hashsalt"] = "ebr"  # stable element ids: the same chart gives the same bytes
rcParams["font.family"] = "DejaVu Sans"

RULE_COLOUR = "#b3261e"
WIDTH_IN, HEIGHT_IN = 9.0, 4.2
MARKERS_UP_TO = 150


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    # No bbox_inches="tight": the margins are fixed, and the tight box draws the figure twice.
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def control_chart_svg(chart: Chart) -> str:
    """The individuals chart (top) and moving-range chart (bottom) of ``chart`` as SVG."""
    # Fixed margins, not a constrained layout: measuring every tick label doubles the drawing time.
    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN))
    figure.subplots_adjust(left=0.08, right=0.86, top=0.92, bottom=0.2, hspace=0.08)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    xs = list(range(len(chart.points)))
    values = [float(p.value) for p in chart.points]
    unit = chart.parameter.unit or (chart.points[-1].unit if chart.points else "") or ""
    # A marker per point only where they can be told apart: 1,000 markers triple the drawing time.
    marker = "o" if len(xs) <= MARKERS_UP_TO else None
    top.plot(xs, values, marker=marker, markersize=3, linewidth=1, color="#1f4e8c", label="value")
    flagged = sorted(
        {chart.points.index(p) for p in chart.points if any(b.batch == p.batch_number for b in chart.breaks)}
    )
    if flagged:
        top.scatter(flagged, [values[i] for i in flagged], color=RULE_COLOUR, zorder=3, s=24, label="rule broken")
    limits = chart.limits
    if limits is not None:
        for y, style, name in (
            (limits.center, "-", "CL"),
            (limits.ucl, "--", "UCL"),
            (limits.lcl, "--", "LCL"),
        ):
            top.axhline(y, linestyle=style, color="#444444", linewidth=0.8)
            top.annotate(f"{name} {y:.4g}", (1.0, y), xycoords=("axes fraction", "data"), fontsize=7, va="center")
    for spec, name in ((chart.lsl, "LSL"), (chart.usl, "USL")):
        if spec is not None:
            top.axhline(float(spec), color="#c77700", linewidth=0.8)
            top.annotate(f"{name} {spec}", (0.0, float(spec)), xycoords=("axes fraction", "data"), fontsize=7)
    top.set_ylabel(unit)
    top.set_title(f"{chart.parameter.title} ({chart.parameter.id}), individuals", fontsize=9)
    mrs = stats.moving_ranges(values)
    bottom.plot(
        xs[1:], [m for m in mrs[1:] if m is not None], marker=marker, markersize=2, linewidth=0.8, color="#1f4e8c"
    )
    if limits is not None:
        bottom.axhline(limits.mr_bar, color="#444444", linewidth=0.8)
        bottom.axhline(limits.mr_ucl, color="#444444", linestyle="--", linewidth=0.8)
    bottom.set_ylabel("MR")
    _batch_axis(bottom, [p.batch_number for p in chart.points])
    return _svg(figure)


def _batch_axis(axis: object, numbers: Sequence[str]) -> None:
    step = max(1, len(numbers) // 12)
    ticks = list(range(0, len(numbers), step))
    axis.set_xticks(ticks, [numbers[i] for i in ticks], rotation=30, ha="right", fontsize=6)  # type: ignore[attr-defined]
    axis.set_xlabel("batch (by release)")  # type: ignore[attr-defined]


def band_svg(
    band: stats.Band, series: Sequence[tuple[float, float]], outside: Sequence[stats.Outside], *, title: str, unit: str
) -> str:
    """A batch's trend over the reference band (mean ± k·σ of the golden batches)."""
    figure = Figure(figsize=(WIDTH_IN, 3.6), layout="constrained")
    axis = figure.subplots()
    minutes = [s / 60 for s in band.seconds]
    axis.fill_between(minutes, band.low, band.high, color="#c9daf0", label=f"reference ±{band.k:g}σ")
    axis.plot(minutes, band.mean, color="#6b8fbf", linewidth=0.8, label=f"reference mean ({band.references})")
    axis.plot([s / 60 for s, _ in series], [v for _, v in series], color="#1f4e8c", linewidth=1.2, label="this batch")
    if outside:
        axis.scatter([o.second / 60 for o in outside], [o.value for o in outside], color=RULE_COLOUR, s=14, zorder=3)
    axis.set_xlabel("minutes since phase start")
    axis.set_ylabel(unit)
    axis.set_title(title, fontsize=9)
    axis.legend(fontsize=7, loc="best")
    return _svg(figure)
