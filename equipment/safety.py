"""Output ownership and reconciliation to the declared safe state.

Every writable output has a ``safe_state`` in the plant file (default false / 0; ``manual``
for an output people run by hand). At every moment an output is either owned by a running
phase (the runtime says which, through ``owned()``) or it must be in its safe state. The
:class:`OutputGuard` makes that true: on every (re)connection, after every phase-ending
command and periodically, it reads each unowned output and its feedback fresh from the
device, writes the safe state where it is not confirmed, and keeps doing so (faster while
something is unconfirmed) until the feedback confirms it. An output that cannot be confirmed
within ``confirm_s`` — the write fails, the link is down, the feedback does not follow — raises
one alarm (``output_not_safe``) until it is confirmed again.

Why read fresh and not trust the cache: after a link returns, the cached command may be
from before the cut; the device's present state is what counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from equipment.config import PlantConfig
from equipment.drivers.base import TagValue, Value
from equipment.drivers.plantio import PlantIO
from equipment.errors import DriverError
from equipment.interlocks import Trip, TripKind
from equipment.supervision import LoopWatch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SafeOutput:
    """One writable output and how its safe state is confirmed."""

    tag: str
    unit: str
    safe: Value
    feedback: str
    confirm_s: float

    def confirms(self, item: TagValue | None) -> bool:
        if item is None or not item.good or item.value is None:
            return False
        if isinstance(self.safe, bool) or isinstance(item.value, bool):
            return bool(item.value) == bool(self.safe)
        return abs(float(item.value) - float(self.safe)) <= 1e-6 * max(1.0, abs(float(self.safe)))

    def describe(self) -> str:
        if isinstance(self.safe, bool):
            return "closed/off" if not self.safe else "on"
        return f"at {self.safe:g}"


def safe_outputs(config: PlantConfig, *, default_confirm_s: float = 2.0) -> list[SafeOutput]:
    """The outputs with a declared safe state; a dosing's valve and pump are confirmed by its feedbacks."""
    feedbacks: dict[str, tuple[str, float]] = {}
    for cfg in config.dosing.values():
        confirm = max(default_confirm_s, cfg.valve_follow_ms / 1000)
        feedbacks[cfg.inlet_valve] = (cfg.inlet_valve_feedback, confirm)
        if cfg.pump_feedback:
            feedbacks[cfg.pump] = (cfg.pump_feedback, confirm)
    outputs = []
    for spec in config.tags.values():
        if not spec.writable or spec.safe_state is None:
            continue
        feedback, confirm = feedbacks.get(spec.name, (spec.feedback or spec.name, default_confirm_s))
        if spec.feedback:
            feedback = spec.feedback
        outputs.append(SafeOutput(spec.name, spec.name.split(".", 1)[0], spec.safe_state, feedback, confirm))
    return outputs


Alarm = Callable[[str, Trip], None]
Note = Callable[[str, str], None]


class OutputGuard:
    """Drives every output that no running phase owns to its safe state and confirms it."""

    def __init__(
        self,
        *,
        io: PlantIO,
        outputs: list[SafeOutput],
        owned: Callable[[], set[str]],
        alarm: Alarm,
        note: Note,
        period_s: float = 1.0,
        retry_s: float = 0.2,
        watch: LoopWatch | None = None,
    ) -> None:
        self.io, self.outputs, self.owned = io, outputs, owned
        self.watch = watch
        self.alarm, self.note = alarm, note
        self.period_s, self.retry_s = period_s, retry_s
        self.unconfirmed_since: dict[str, float] = {}
        self.alarmed: set[str] = set()
        self.failed_writes = 0
        self.last_pass = 0.0
        """``time.monotonic()`` at the end of the last reconcile pass."""
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Reconcile now (a connection came back, a phase ended)."""
        self._wake.set()

    async def run(self) -> None:
        """Reconcile forever: at once when woken, every ``period_s``, every ``retry_s`` while unconfirmed."""
        while True:
            self._wake.clear()
            wait = self.retry_s if self.unconfirmed_since else self.period_s
            try:
                await self.reconcile()
            except Exception as exc:
                # Logged and counted by the runtime's watch, which ends the runtime when the guard
                # keeps failing (the restart drives the outputs safe); standalone, log and retry.
                if self.watch is None:
                    log.exception("output reconciliation failed; retrying")
                else:
                    unowned = sorted(o.tag for o in self.outputs if o.tag not in self.owned())
                    wait = self.watch.failed(exc, f"outputs {', '.join(unowned) or 'none'}")
            else:
                if self.watch is not None:
                    self.watch.succeeded()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def reconcile(self) -> dict[str, bool]:
        """One pass: every unowned output read, written safe where needed; returns tag → confirmed."""
        owned = self.owned()
        todo = [o for o in self.outputs if o.tag not in owned]
        reachable = [o for o in todo if self.io.connected.get(self.io.endpoint_of(o.tag), False)]
        values: dict[str, TagValue] = {}
        if reachable:
            tags = sorted({t for o in reachable for t in (o.tag, o.feedback)})
            values = await self.io.read(tags)
        result: dict[str, bool] = {}
        for output in todo:
            if output not in reachable:
                result[output.tag] = self._unconfirmed(output, f"endpoint {self.io.endpoint_of(output.tag)} is down")
                continue
            command, feedback = values.get(output.tag), values.get(output.feedback)
            if output.confirms(command) and output.confirms(feedback):
                result[output.tag] = self._confirmed(output)
                continue
            why = f"{output.feedback} shows {None if feedback is None else feedback.value}"
            if output.tag not in self.owned():  # ownership is checked again right before the write
                failed = await self._write(output)
                why = failed or why
                if not failed and not output.confirms(command):
                    # Commanded out of its safe state with no phase owning it (a local panel, a
                    # command lost in a cut): the record must say that the runtime overrode it.
                    shown = None if command is None else command.value
                    self.note(
                        output.unit,
                        f"{output.tag} was {shown!r} with no running phase owning it: written {output.describe()}",
                    )
            result[output.tag] = self._unconfirmed(output, why)
        self.last_pass = time.monotonic()
        return result

    async def _write(self, output: SafeOutput) -> str:
        try:
            await self.io.write(output.tag, output.safe)
        except DriverError as exc:
            self.failed_writes += 1
            log.warning("safe-state write %s := %r failed: %s", output.tag, output.safe, exc)
            return f"the write failed: {exc}"
        return ""

    def _confirmed(self, output: SafeOutput) -> bool:
        self.unconfirmed_since.pop(output.tag, None)
        if output.tag in self.alarmed:
            self.alarmed.discard(output.tag)
            self.note(output.unit, f"{output.tag} confirmed {output.describe()} again")
        return True

    def _unconfirmed(self, output: SafeOutput, why: str) -> bool:
        now = time.monotonic()
        since = self.unconfirmed_since.setdefault(output.tag, now)
        if now - since >= output.confirm_s and output.tag not in self.alarmed:
            self.alarmed.add(output.tag)
            message = (
                f"{output.tag} cannot be confirmed {output.describe()} (its safe state, no phase owns it) "
                f"for {now - since:.1f} s: {why}; check the device and the link, the runtime keeps trying"
            )
            self.alarm(output.unit, Trip(TripKind.OUTPUT_NOT_SAFE, message, output.tag, None))
        return False
