"""``ebr runtime``: one asyncio process that owns the plant connections of an area.

It takes commands from ``equipment_command`` (woken by LISTEN/NOTIFY on PostgreSQL,
polling on SQLite), runs dosing phases with their interlocks, and publishes phase
states, alarms, readings, downsampled trend and a heartbeat. The interlock path —
data-change notification → :class:`DosingPhase` → stop writes — never touches the
database; reports are queued and recorded by a separate task in a worker thread.
After a restart, phases the database still shows RUNNING are put on HELD with their
outputs driven safe: their plant state is uncertain (DESIGN.md: never silently on).
Outputs that no running phase owns are kept in their declared safe state by
:class:`~equipment.safety.OutputGuard`; flow or a high-high level on a unit with no
running phase is watched by :class:`~equipment.idle.IdleWatch`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from audit.trail import AuditTrail
from ebr.core.clock import Clock
from ebr.core.errors import EquipmentError
from ebr.core.ids import new_id
from equipment.commands import PhaseStatus
from equipment.compensation import StopLead
from equipment.config import PlantConfig
from equipment.dosing import DosingPhase, PhaseReport
from equipment.drivers.base import TagValue
from equipment.drivers.plantio import PlantIO, build_plant_io
from equipment.errors import DriverError
from equipment.idle import IdleWatch, owned_outputs
from equipment.interlocks import Trip
from equipment.models import TrendPoint
from equipment.pli import PlcPhase
from equipment.publishing import Publishing
from equipment.recorder import Recorder
from equipment.runtime_commands import CommandHandling
from equipment.safety import OutputGuard, safe_outputs
from equipment.subscriptions import subscribe_plant
from equipment.supervision import Backoff, RuntimeFatal, Supervision
from equipment.trend import TrendBuffer

log = logging.getLogger(__name__)


class EquipmentRuntime(Publishing, CommandHandling):
    """The runtime of one plant configuration (one area).

    Its loops are spread over three modules by what they do: this one (life cycle, the fast
    path, recording), :mod:`equipment.publishing` (heartbeat, readings, trend) and
    :mod:`equipment.runtime_commands` (commands, phase rebuild and recovery).
    """

    def __init__(
        self,
        *,
        config: PlantConfig,
        factory: sessionmaker[Session],
        audit: AuditTrail,
        clock: Clock,
        io: PlantIO | None = None,
        database_url: str | None = None,
        runtime_id: str | None = None,
        poll_s: float = 0.2,
        heartbeat_s: float = 1.0,
        readings_s: float = 0.5,
        tick_s: float = 0.02,
        start_max_age_s: float = 30.0,
        reconcile_s: float = 1.0,
        settle_s: float = 0.3,
        backoff: Backoff | None = None,
    ) -> None:
        self.config = config
        self.io = io or build_plant_io(config)
        self.runtime_id = runtime_id or f"{config.area}-{new_id()[:8]}"
        self.recorder = Recorder(
            factory=factory, audit=audit, clock=clock, runtime_id=self.runtime_id, area=config.area
        )
        self.clock = clock
        self.database_url = database_url
        self.poll_s, self.heartbeat_s, self.readings_s, self.tick_s = poll_s, heartbeat_s, readings_s, tick_s
        self.start_max_age_s = start_max_age_s
        self.settle_s = settle_s
        self.phases: dict[str, DosingPhase | PlcPhase] = {}
        self.units = sorted({tag.split(".", 1)[0] for tag in config.tags} | set(config.dosing))
        self.trend = TrendBuffer(config)
        self._reports: asyncio.Queue[PhaseReport] = asyncio.Queue()
        self._dirty: dict[str, TagValue] = {}
        self._wake = asyncio.Event()
        self._inflight: asyncio.Future[None] | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._pending_points: list[TrendPoint] = []
        self.counters: Counter[str] = Counter()
        # Every loop reports its failures here (logged with context, counted, bounded backoff);
        # a failure beyond the limits sets ``fatal`` and ends :meth:`serve` (crash-only).
        self.supervision = Supervision(area=config.area, backoff=backoff)
        self.fatal: RuntimeFatal | None = None
        self._failed = asyncio.Event()
        self.readings_failing_since: float | None = None
        """``time.monotonic()`` of the first failed readings write not yet followed by a good one."""
        self.leads = {unit: StopLead(cfg.valve_travel_ms / 1000) for unit, cfg in config.dosing.items()}
        self.guard = OutputGuard(
            io=self.io,
            outputs=safe_outputs(config),
            owned=self.owned_outputs,
            alarm=self._raise_alarm,
            note=self._note,
            period_s=reconcile_s,
            watch=self.supervision.watch("output reconciliation"),
        )
        self.idle = IdleWatch(
            io=self.io,
            config=config,
            phases=lambda: self.phases.values(),
            alarm=self._raise_alarm,
            guard=self.guard,
            watch=self.supervision.watch("idle watch"),
        )

    # -- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, subscribe every tag, recover phases, and start the loops."""
        self.io.add_connection_listener(self._on_connection)
        await subscribe_plant(self.io, self.config, self._on_value)
        failed = await self.io.connect()
        for endpoint, reason in failed.items():
            log.warning("endpoint %s not reachable yet (%s); retrying in the background", endpoint, reason)
            self._spawn(self._connect_later(endpoint))
        await self._recover()
        loops = (self._record_loop, self._command_loop, self._heartbeat_loop, self._tick_loop, self._readings_loop)
        for loop in (*loops, self.guard.run, self.idle.run):
            self._spawn(loop())
        if self.database_url and self.database_url.startswith("postgresql"):
            self._spawn(self._listen_loop())
        await asyncio.to_thread(self.recorder.log_event, "runtime", f"equipment runtime {self.runtime_id} started")

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; raises :class:`RuntimeFatal` when a loop gave up."""
        await self.start()
        await self.serve(stop)

    async def serve(self, stop: asyncio.Event) -> None:
        """Wait for ``stop`` or a fatal loop failure, then close; re-raise the fatal failure.

        Closing after a fatal failure still holds running phases (outputs driven safe)
        before the process ends: the plant is left safe, the restart recovers the rest.
        """
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._failed.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await self.close()
        if self.fatal is not None:
            raise self.fatal

    async def close(self) -> None:
        """Stop: running phases are held (outputs driven safe), every report is recorded, then all closes."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._inflight is not None:
            # Shielded from the cancellation above: a report is never half-lost. A RuntimeFatal
            # here is already logged and kept as self.fatal by the record loop's task.
            with contextlib.suppress(RuntimeFatal):
                await self._inflight
        for phase in list(self.phases.values()):
            if phase.state is PhaseStatus.RUNNING:
                # A phase that cannot be held (its endpoint is down) is already held by its
                # own communication-loss rule; the guard's writes on restart cover the rest.
                with contextlib.suppress(EquipmentError):
                    await phase.hold("equipment runtime stopped")
        await self._record_remaining()
        for phase in self.phases.values():
            await phase.close()
        await self.io.close()
        try:
            await asyncio.to_thread(self.recorder.heartbeat, connected=False, detail="stopped")
        except Exception as exc:  # noqa: BLE001 - the database may be why we stop; the heartbeat then ages out
            log.error("last heartbeat (stopped) not written: %s: %s", type(exc).__name__, exc)

    async def _record_remaining(self) -> None:
        """Record the queued reports; when the database refuses, say which are lost.

        Lost reports are not lost state: the next runtime reads the phases the database
        still shows running and holds them (:meth:`_recover`), which is the tested path.
        """
        while not self._reports.empty():
            report = self._reports.get_nowait()
            try:
                await asyncio.to_thread(self.recorder.record, report)
            except Exception as exc:  # noqa: BLE001 - stopping: log each lost report, the restart recovers it
                self.supervision.note("recording")
                log.error(
                    "phase report %s (%s, %s) not recorded while stopping: %s: %s",
                    report.phase_ref,
                    report.unit,
                    report.state.value,
                    type(exc).__name__,
                    exc,
                )

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        self._tasks = [t for t in self._tasks if not t.done()]
        task = asyncio.create_task(coro)
        task.add_done_callback(self._task_done)
        self._tasks.append(task)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        """A loop or background task ended: a fatal failure stops the runtime, any other is logged."""
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        if isinstance(exc, RuntimeFatal):
            self.fatal = self.fatal or exc
            self._failed.set()
            return
        # A loop body escaped its watch: a bug. The loop is gone, so the runtime cannot go on.
        self.supervision.note("background task")
        log.critical("background task %s of runtime %s died", task.get_coro(), self.runtime_id, exc_info=exc)
        self.fatal = self.fatal or RuntimeFatal(
            f"equipment runtime of area {self.config.area}: a background task died ({type(exc).__name__}: {exc}); "
            "the runtime stops so that its service manager restarts it"
        )
        self._failed.set()

    async def _connect_later(self, endpoint: str) -> None:
        # An endpoint that is down is a plant condition, not a runtime fault: no limit, but
        # every failure is logged (with the endpoint) and counted, at most 1 s apart.
        watch = self.supervision.watch(f"connect {endpoint}", backoff=Backoff(0.2, 1.0, None))
        delay = 0.2
        while True:
            await asyncio.sleep(delay)
            try:
                await self.io.drivers[endpoint].connect()
                watch.succeeded()
                return
            except DriverError as exc:
                delay = watch.failed(exc, f"endpoint {endpoint}")

    # -- the fast path -------------------------------------------------------------------

    def _on_value(self, item: TagValue) -> None:
        for phase in list(self.phases.values()):
            phase.on_value(item)
        self._dirty[item.tag] = item
        self.trend.add(item, active_units={p.cfg.unit for p in self.phases.values()})
        self.idle.on_value(item)

    def owned_outputs(self) -> set[str]:
        """Outputs that a running phase owns now (everything else belongs in its safe state)."""
        return owned_outputs(self.phases.values())

    def _raise_alarm(self, unit: str, trip: Trip) -> None:
        self._spawn(self._retry(lambda: self.recorder.alarm(unit, trip), what=f"alarm {trip.kind.value} on {unit}"))

    def _note(self, unit: str, message: str) -> None:
        self._spawn(self._retry(lambda: self.recorder.log_event("safety", message, unit=unit), what=f"note on {unit}"))

    def _on_connection(self, endpoint: str, connected: bool, reason: str) -> None:
        for phase in list(self.phases.values()):
            phase.on_connection(endpoint, connected, reason)
        if connected:
            self.guard.wake()
        event = f"{endpoint}: {reason}"
        self._spawn(self._retry(lambda: self.recorder.log_event("connection", event), what=f"connection event {event}"))

    def _report(self, report: PhaseReport) -> None:
        self._reports.put_nowait(report)
        if report.state is PhaseStatus.HELD or report.state.final:
            self.idle.phase_ended(report.unit)
            self.guard.wake()
        if report.state.final:
            phase = self.phases.get(report.phase_ref)
            if phase is not None and phase.state.final:
                self.idle.phase_ended(report.unit)
                self.phases.pop(report.phase_ref, None)
                self._spawn(phase.close())

    async def _tick_loop(self) -> None:
        # Ticks run the phases' timeouts (valve feedback, no-flow): a tick that keeps failing
        # leaves those unwatched, so it gives up after 10 s and the restart holds the phases.
        watch = self.supervision.watch("phase ticks", backoff=Backoff(self.tick_s, 1.0, 10.0))
        while True:
            delay = self.tick_s
            for ref, phase in list(self.phases.items()):
                try:
                    phase.tick()
                except Exception as exc:  # noqa: BLE001 - logged, counted and bounded by the watch
                    delay = watch.failed(exc, f"phase {ref} on {phase.cfg.unit}")
                    break
            else:
                watch.succeeded()
            await asyncio.sleep(delay)

    # -- recording -----------------------------------------------------------------------

    async def _record_loop(self) -> None:
        while True:
            report = await self._reports.get()
            what = f"phase report {report.phase_ref} ({report.unit}, {report.state.value})"
            work = self._retry(lambda r=report: self.recorder.record(r), what=what)  # type: ignore[misc]
            self._inflight = asyncio.ensure_future(work)
            await asyncio.shield(self._inflight)

    async def _retry(self, work: Callable[[], None], *, what: str) -> None:
        """Run ``work`` in a thread; on a failure wait (bounded backoff) and retry, up to the give-up limit.

        Records are not dropped while retrying; beyond the limit :class:`RuntimeFatal` ends the
        runtime (``what`` names the record in the message), and the restart recovers the phases.
        """
        watch = self.supervision.watch("recording")
        while True:
            try:
                await asyncio.to_thread(work)
                watch.succeeded()
                return
            except Exception as exc:  # noqa: BLE001 - any database failure: keep the record, retry, bounded
                await asyncio.sleep(watch.failed(exc, what))

    # -- publishing: heartbeat, readings and trend (equipment/publishing.py) ------------

    # -- commands ------------------------------------------------------------------------

    def wake(self) -> None:
        """Look for commands now (tests and in-process callers)."""
        self._wake.set()
