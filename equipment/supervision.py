"""Crash-only supervision of the equipment runtime's loops.

Every loop of the runtime (heartbeat, readings, recording, commands, reconnects,
output reconciliation, ticks) reports a failure to its :class:`LoopWatch`, which

- logs it once with its context (loop, area, and what the loop was doing: the
  endpoint, tag, unit or phase),
- counts it in the Prometheus counter ``ebr_runtime_loop_failures_total``
  (labels ``area`` and ``loop``) of the runtime's own registry,
- answers how long to wait before the next try: exponential from
  :attr:`Backoff.initial_s`, never longer than :attr:`Backoff.maximum_s`,
- and, when the loop has failed for longer than :attr:`Backoff.give_up_after_s`
  (or more than :attr:`Backoff.max_attempts` times in a row), raises
  :class:`RuntimeFatal` instead of retrying.

Why give up at all: the runtime is crash-only. A failure that does not heal by
retrying (the database gone for minutes, a bug that fails every pass) is better
handled by ending the process with one clear message: systemd restarts it, and the
restart path — outputs driven to their safe state, phases the database shows
running put on HELD — is the one recovery path we test, instead of a process that
lives on half-working. A loop whose failure has a safe fallback (LISTEN falls back
to polling; an unreachable endpoint is a normal plant condition handled by the
phases and the guard) retries without a limit, but still with a bounded delay.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter

from ebr.core.errors import EquipmentError

log = logging.getLogger(__name__)


class RuntimeFatal(EquipmentError):
    """A runtime loop failed beyond its limits: the process ends so that systemd restarts it."""


@dataclass(frozen=True)
class Backoff:
    """How a loop retries: exponential delays capped at ``maximum_s``; optionally a limit.

    ``give_up_after_s`` is measured from the first failure of the current run of
    failures; ``max_attempts`` counts consecutive failures. ``None`` means no limit
    (for failures with a safe fallback). A success resets both.
    """

    initial_s: float = 0.2
    maximum_s: float = 5.0
    give_up_after_s: float | None = 120.0
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if not 0 < self.initial_s <= self.maximum_s:
            raise ValueError(f"backoff delays must satisfy 0 < initial ({self.initial_s}) ≤ maximum ({self.maximum_s})")

    def delay(self, attempt: int) -> float:
        """The wait after the ``attempt``-th consecutive failure (1-based), at most ``maximum_s``."""
        # 2**attempt overflows to inf for huge attempts in float arithmetic; min() keeps it bounded.
        exponent = min(attempt - 1, 64)
        return float(min(self.initial_s * (2**exponent), self.maximum_s))


class LoopWatch:
    """The failure bookkeeping of one loop: log, count, delay, give up."""

    def __init__(
        self, *, name: str, area: str, backoff: Backoff, counter: Counter, monotonic: Callable[[], float]
    ) -> None:
        self.name, self.area, self.backoff = name, area, backoff
        # Labelled once: the child counter is the hot path of a failing loop.
        self._counter = counter.labels(area=area, loop=name)
        self._monotonic = monotonic
        self.attempts = 0
        self.first_failure: float | None = None

    def failed(self, exc: BaseException, context: str) -> float:
        """Record a failure; return the delay before the next try, or raise :class:`RuntimeFatal`."""
        now = self._monotonic()
        # The give-up clock runs from the first failure of this run of failures, not per attempt:
        # a slow failure (a 30 s connect timeout) counts its whole time.
        if self.first_failure is None:
            self.first_failure = now
        self.attempts += 1
        self._counter.inc()
        delay = self.backoff.delay(self.attempts)
        failing_for = now - self.first_failure
        limit = self.backoff
        if (limit.max_attempts is not None and self.attempts >= limit.max_attempts) or (
            limit.give_up_after_s is not None and failing_for >= limit.give_up_after_s
        ):
            message = (
                f"equipment runtime of area {self.area}: {self.name} failed {self.attempts} time(s) over "
                f"{failing_for:.0f} s ({context}): {one_line(exc)}. The runtime stops so that its "
                "service manager restarts it; on restart it drives outputs safe and holds running phases"
            )
            log.critical(message)
            raise RuntimeFatal(message) from exc
        # exc_info only on the first failure of a run: the traceback once, then one line per retry.
        log.error(
            "%s failed (attempt %d, area %s, %s): %s; retrying in %.1f s",
            self.name,
            self.attempts,
            self.area,
            context,
            one_line(exc),
            delay,
            exc_info=exc if self.attempts == 1 else None,
        )
        return delay

    def succeeded(self) -> None:
        """The loop worked: the next failure starts again from the shortest delay."""
        if self.attempts:
            log.info("%s works again after %d failure(s) (area %s)", self.name, self.attempts, self.area)
        self.attempts, self.first_failure = 0, None


def one_line(exc: BaseException, limit: int = 300) -> str:
    """``Type: first line of the message`` (a driver's or SQLAlchemy's text runs over many lines)."""
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0] if lines else ''}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Supervision:
    """The runtime's loop watches and their metric, in a registry the runtime owns.

    The registry is created here, not at import, so two runtimes in one process (tests,
    the embedded demo) count separately; ``ebr runtime --metrics-port`` serves it.
    """

    def __init__(
        self,
        *,
        area: str,
        backoff: Backoff | None = None,
        registry: CollectorRegistry | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.area = area
        self.backoff = backoff or Backoff()
        self.registry = registry or CollectorRegistry()
        self.monotonic = monotonic
        self.failures = Counter(
            "ebr_runtime_loop_failures",
            "Failures of an equipment runtime loop (each is logged with its context and retried)",
            labelnames=("area", "loop"),
            registry=self.registry,
        )
        self._watches: dict[str, LoopWatch] = {}

    def watch(self, name: str, *, backoff: Backoff | None = None) -> LoopWatch:
        """The watch of loop ``name`` (one per name), with the runtime's backoff unless given one."""
        if name not in self._watches:
            self._watches[name] = LoopWatch(
                name=name,
                area=self.area,
                backoff=backoff or self.backoff,
                counter=self.failures,
                monotonic=self.monotonic,
            )
        return self._watches[name]

    def note(self, name: str) -> None:
        """Count a failure that is handled where it happens (logged there) and needs no retry."""
        self.failures.labels(area=self.area, loop=name).inc()

    def count(self, name: str) -> float:
        """Failures counted for loop ``name`` so far (0 when none)."""
        value = self.registry.get_sample_value("ebr_runtime_loop_failures_total", {"area": self.area, "loop": name})
        return value or 0.0
