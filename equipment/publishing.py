"""The runtime's publishing loops: the heartbeat and the readings with their trend.

A mixin of :class:`equipment.runtime.EquipmentRuntime` (kept apart to keep modules
small); the attributes below are the runtime's. Both loops are supervised
(:mod:`equipment.supervision`): a failed write is logged with its context, counted and
retried with bounded backoff, and a write failing beyond the limit ends the runtime.
While readings cannot be written, the heartbeat reports the runtime not connected and
says the values shown are stale.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import TYPE_CHECKING

from ebr.core.clock import Clock
from equipment.config import PlantConfig
from equipment.drivers.base import TagValue
from equipment.drivers.plantio import PlantIO
from equipment.models import TrendPoint
from equipment.recorder import Recorder
from equipment.supervision import Supervision
from equipment.trend import TrendBuffer

if TYPE_CHECKING:
    from equipment.dosing import DosingPhase
    from equipment.pli import PlcPhase


class Publishing:
    """Heartbeat and readings loops of the equipment runtime."""

    config: PlantConfig
    io: PlantIO
    recorder: Recorder
    clock: Clock
    supervision: Supervision
    counters: Counter[str]
    runtime_id: str
    heartbeat_s: float
    readings_s: float
    readings_failing_since: float | None
    trend: TrendBuffer
    phases: dict[str, DosingPhase | PlcPhase]
    _dirty: dict[str, TagValue]
    _pending_points: list[TrendPoint]

    async def _heartbeat_loop(self) -> None:
        watch = self.supervision.watch("heartbeat")
        while True:
            detail = ", ".join(
                f"{name}: up" if up else f"{name}: DOWN{self._silence(name)}" for name, up in self.io.connected.items()
            )
            # Connected means usable: every endpoint up AND every tag has delivered its first
            # value, so a dosing started right after a (re)start is not refused for lack of data.
            waiting = [tag for tag in self.config.tags if tag not in self.io.latest]
            if waiting:
                detail += f"; waiting for first values of {len(waiting)} tag(s), e.g. {waiting[0]}"
            silent = self._silent_endpoints()
            if silent:
                detail += "; no answer from " + ", ".join(silent)
            if self.counters:
                detail += "; " + ", ".join(f"{name}: {count}" for name, count in sorted(self.counters.items()))
            stale = self._stale_readings()
            if stale:
                detail += "; " + stale
            # Not connected while readings are not written: whoever uses a reading (the scale,
            # the pages) must not take the last one written for the current one.
            connected = all(self.io.connected.values()) and not waiting and not silent and not stale
            try:
                await asyncio.to_thread(self.recorder.heartbeat, connected=connected, detail=detail)
            except Exception as exc:  # noqa: BLE001 - a missed heartbeat shows as a stale one; bounded retry
                self.counters["heartbeat write failures"] += 1
                await asyncio.sleep(watch.failed(exc, f"runtime {self.runtime_id}: {detail}"))
                continue
            watch.succeeded()
            await asyncio.sleep(self.heartbeat_s)

    def _stale_readings(self) -> str:
        """``readings not written for 4.2 s: …`` while the readings loop fails, else ``""``."""
        if self.readings_failing_since is None:
            return ""
        age = time.monotonic() - self.readings_failing_since
        return f"readings not written for {age:.1f} s: the values shown are stale"

    def _silence(self, endpoint: str) -> str:
        """`` (no answer for 4.2 s)`` for an endpoint down after it had answered, so a reader sees the data's age."""
        alive = getattr(self.io.drivers.get(endpoint), "last_alive", 0.0)
        return f" (no answer for {time.monotonic() - alive:.1f} s)" if alive else ""

    def _silent_endpoints(self) -> list[str]:
        """Connected endpoints that have not answered (probe, poll or value) within their ``max_data_age_ms``."""
        now = time.monotonic()
        silent = []
        for name, driver in self.io.drivers.items():
            alive = getattr(driver, "last_alive", now)
            limit_s = self.config.endpoints[name].max_data_age_ms / 1000 if name in self.config.endpoints else 3.0
            if self.io.connected.get(name) and alive and now - alive > limit_s:
                silent.append(f"{name} ({now - alive:.1f} s)")
        return silent

    async def _readings_loop(self) -> None:
        units = {t.name: t.unit for t in self.config.tags.values()}
        decimals = {t.name: t.decimals for t in self.config.tags.values()}
        watch = self.supervision.watch("readings")
        delay = self.readings_s
        while True:
            await asyncio.sleep(delay)
            # Cleared only after the write succeeded, and only what was not replaced meanwhile:
            # a failed write never loses a value nor leaves an old one shown as current.
            items = dict(self._dirty)
            self._pending_points += self.trend.flush(self.clock.now(), {p.cfg.unit: r for r, p in self.phases.items()})
            try:
                if items:
                    await asyncio.to_thread(self.recorder.readings, list(items.values()), units, decimals)
                    for tag, item in items.items():
                        if self._dirty.get(tag) is item:
                            del self._dirty[tag]
                if self._pending_points:
                    points, self._pending_points = self._pending_points, []
                    try:
                        await asyncio.to_thread(self.recorder.trend, points)
                    except BaseException:
                        self._pending_points = points + self._pending_points
                        raise
                delay = self.readings_s
                self.readings_failing_since = None
                watch.succeeded()
            except Exception as exc:  # noqa: BLE001 - any database failure: keep every value, retry with backoff
                self.counters["readings write failures"] += 1
                if self.readings_failing_since is None:
                    self.readings_failing_since = time.monotonic()
                what = (
                    f"{len(items)} reading(s), e.g. {next(iter(items), '-')}, "
                    f"and {len(self._pending_points)} trend point(s)"
                )
                delay = max(self.readings_s, watch.failed(exc, what))
