"""Server-sent events: live equipment values, alarms and phase state for the browser.

Pattern: a stream polls the runtime-exchange tables (written by ``ebr runtime``) with
a short read transaction, renders an HTML fragment, and sends it only when it
changed; htmx's SSE extension swaps it in. A stream ends after ``STREAM_SECONDS``
and the browser reconnects (``retry``), so a web worker thread is never held for
ever and a logged-out or timed-out user stops receiving data within that bound.
A comment line every second tells the browser the connection is alive and lets the
server notice at once that a browser went away.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from flask import Blueprint, Response, render_template, stream_with_context
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from ebr.execution import view_hold as hold_view
from ebr.execution.view_dosing import live_dosing
from ebr.execution.view_weighing import live_weighing
from ebr.web import access
from ebr.web.helpers import execution, read
from ebr.web.sse import sse_message
from equipment import commands as runtime
from equipment.models import Alarm, PhaseState, Reading, TrendPoint

bp = Blueprint("live", __name__, url_prefix="/live", template_folder="templates")

STREAM_SECONDS = 60.0
POLL_SECONDS = 1.0
# A comment every poll: a browser that went away is noticed at the next write (≤ 1 s), not 10 s later.
HEARTBEAT_SECONDS = 1.0

Poll = Callable[[], dict[str, str]]


def event_stream(poll: Poll, *, seconds: float = STREAM_SECONDS, interval: float = POLL_SECONDS) -> Iterator[str]:
    """Yield changed fragments from ``poll()`` (event name → HTML) until ``seconds`` pass."""
    yield "retry: 1000\n\n"
    sent: dict[str, str] = {}
    deadline = time.monotonic() + seconds
    last_beat = time.monotonic()
    while True:
        for event, html in poll().items():
            if sent.get(event) != html:
                sent[event] = html
                yield sse_message(event, html)
        now = time.monotonic()
        if now - last_beat >= HEARTBEAT_SECONDS:
            last_beat = now
            yield ": alive\n\n"
        if now >= deadline:
            return
        time.sleep(interval)


def sse_response(poll: Poll) -> Response:
    """A streaming ``text/event-stream`` response for ``poll``."""
    response = Response(stream_with_context(event_stream(poll)), mimetype="text/event-stream")
    response.headers["X-Accel-Buffering"] = "no"  # a reverse proxy must not buffer the stream
    return response


def unit_fragments(
    unit: str, phase_ref: str | None = None, weigh_ref: str | None = None, hold_ref: str | None = None
) -> dict[str, str]:
    """The live fragments of ``unit``: readings, open alarms and (optionally) one phase with its trend."""
    with read() as session:
        readings = list(session.scalars(select(Reading).where(Reading.tag.like(f"{unit}.%")).order_by(Reading.tag)))
        stale = runtime.readings_stale(runtime.runtime_status(session, now=execution().ctx.clock.now()))
        alarms = list(
            session.scalars(
                select(Alarm).where(Alarm.unit == unit, Alarm.acknowledged_at.is_(None)).order_by(Alarm.at.desc())
            )
        )
        phase = session.get(PhaseState, phase_ref) if phase_ref else None
        dosing = live_dosing(session, execution(), phase_ref, phase) if phase_ref else None
        weighing = live_weighing(session, execution(), weigh_ref) if weigh_ref else None
        held = hold_view.setpoints(session, execution(), hold_ref) if hold_ref else []
        trend = []
        if phase_ref:
            # The dosed quantity: the destination's totalizer during this phase.
            tag = TrendPoint.tag == f"{unit}.totalizer"
            query = select(TrendPoint).where(TrendPoint.phase_ref == phase_ref, tag).order_by(TrendPoint.at).limit(600)
            trend = list(session.scalars(query))
    fragments = {
        "readings": render_template("live/readings.html", unit=unit, readings=readings, stale=stale),
        "alarms": render_template("live/alarms.html", alarms=alarms),
    }
    if hold_ref:
        fragments["setpoints"] = render_template("live/setpoints.html", setpoints=held)
    if weigh_ref:
        fragments["weighing"] = render_template("live/weighing.html", w=weighing)
    if phase_ref:
        fragments["phase"] = render_template("live/phase.html", phase=phase, trend=trend_points(trend), dosing=dosing)
    return fragments


def trend_points(points: list[TrendPoint], width: int = 600, height: int = 150) -> str:
    """SVG polyline ``points`` for a trend (no chart library, no script)."""
    if len(points) < 2:
        return ""
    values = [p.last for p in points]
    low, high = min(values), max(values)
    span = (high - low) or 1
    step = width / (len(points) - 1)
    coords = (f"{i * step:.1f},{height - float((v - low) / span) * height:.1f}" for i, v in enumerate(values))
    return " ".join(coords)


@bp.get("/units/<unit>")
@access.requires("equipment.view")
def unit_stream(unit: str) -> ResponseReturnValue:
    """Live readings and alarms of one unit (one phase's state and trend with ``?phase=``, a weighing
    step's net weight and window with ``?weigh=``, a timed hold's setpoints and actuals with ``?hold=``)."""
    from flask import request

    phase_ref = request.args.get("phase") or None
    weigh_ref = request.args.get("weigh") or None
    hold_ref = request.args.get("hold") or None
    return sse_response(lambda: unit_fragments(unit, phase_ref, weigh_ref, hold_ref))


@bp.get("/keepalive")
@access.requires("batch.view")
def keepalive() -> ResponseReturnValue:
    """'Stay signed in' in the idle warning: any authenticated request renews the session."""
    return "", 204
