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
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from audit.trail import AuditTrail
from ebr.core.clock import Clock
from ebr.core.errors import EquipmentError
from ebr.core.ids import new_id
from equipment.commands import COMMAND_CHANNEL, START_KINDS, CommandKind, PhaseStatus
from equipment.compensation import StopLead
from equipment.config import PlantConfig
from equipment.dosing import DosingPhase, PhaseReport
from equipment.drivers.base import TagValue
from equipment.drivers.plantio import PlantIO, build_plant_io
from equipment.errors import CommandRefused, DriverError, PermissiveFailed
from equipment.idle import IdleWatch, owned_outputs
from equipment.interlocks import Trip
from equipment.models import TrendPoint
from equipment.pli import PlcPhase
from equipment.recorder import CommandData, Recorder
from equipment.safety import OutputGuard, safe_outputs
from equipment.subscriptions import subscribe_plant
from equipment.supervision import Backoff, RuntimeFatal, Supervision
from equipment.trend import TrendBuffer

log = logging.getLogger(__name__)


class EquipmentRuntime:
    """The runtime of one plant configuration (one area)."""

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

    # -- commands ------------------------------------------------------------------------

    async def _listen_loop(self) -> None:
        import psycopg

        assert self.database_url is not None
        conninfo = make_url(self.database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        # Without LISTEN the command loop still polls every poll_s: no limit, bounded delay.
        watch = self.supervision.watch("listen", backoff=Backoff(1.0, 30.0, None))
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {COMMAND_CHANNEL}")
                    watch.succeeded()
                    async for _ in conn.notifies():
                        self._wake.set()
            except psycopg.Error as exc:
                await asyncio.sleep(watch.failed(exc, f"LISTEN {COMMAND_CHANNEL}; polling meanwhile"))

    async def _command_loop(self) -> None:
        watch = self.supervision.watch("commands")
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)
            self._wake.clear()
            try:
                commands = await asyncio.to_thread(self.recorder.claim_commands, self.units)
            except Exception as exc:  # noqa: BLE001 - database away: bounded backoff, then give up
                await asyncio.sleep(watch.failed(exc, f"claiming commands for {', '.join(self.units)}"))
                continue
            watch.succeeded()
            for command in commands:
                await self._handle(command)

    async def _handle(self, command: CommandData) -> None:
        try:
            result, ok = await self._execute(command), True
        except (EquipmentError, ValueError) as exc:
            result, ok = str(exc), False
        except Exception as exc:
            # Answered as failed (the submitter sees it), logged with its traceback and counted.
            self.supervision.note("command handling")
            log.exception(
                "command %s (%s on %s, phase %s) failed", command.id, command.kind, command.unit, command.phase_ref
            )
            result, ok = f"internal error: {exc!r}", False
        what = f"result of command {command.id} ({command.kind})"
        await self._retry(lambda: self.recorder.finish_command(command.id, ok=ok, result=result), what=what)

    async def _execute(self, command: CommandData) -> str:
        kind = CommandKind(command.kind)
        age = (self.clock.now() - command.submitted_at).total_seconds()
        if kind in START_KINDS and age > self.start_max_age_s:
            # A start written while no runtime was running must not fire later, unattended.
            reason = f"start refused: submitted {age:.0f} s ago (limit {self.start_max_age_s:g} s); submit it again"
            self._report(PhaseReport(command.phase_ref, command.unit, PhaseStatus.REFUSED, None, reason))
            raise CommandRefused(reason)
        if kind is CommandKind.START_DOSING:
            return await self._start_dosing(command)
        if kind is CommandKind.START_PLC_PHASE:
            return await self._start_plc(command)
        phase = self.phases.get(command.phase_ref) or await self._rebuild(command.phase_ref)
        if kind is CommandKind.HOLD:
            await phase.hold("held by command")
        elif kind is CommandKind.RESTART:
            if phase.state is not PhaseStatus.HELD:
                raise CommandRefused(f"phase {command.phase_ref} is {phase.state.value}; restart needs held")
            await phase.restart()
        else:
            await phase.stop(abort=kind is CommandKind.ABORT)
        return f"{kind.value} done: {phase.state.value}"

    async def _start_dosing(self, command: CommandData) -> str:
        cfg = self.config.dosing.get(command.unit)
        if cfg is None:
            raise CommandRefused(f"{command.unit} has no dosing configuration in {self.config.path}")
        busy = [ref for ref, p in self.phases.items() if p.cfg.unit == command.unit and ref != command.phase_ref]
        if busy:
            raise CommandRefused(f"{command.unit} is busy with phase {busy[0]}; stop it first")
        phase = self._phase(command.phase_ref, cfg.unit, command.parameters)
        self.phases[command.phase_ref] = phase
        try:
            await phase.start()
        except PermissiveFailed as exc:
            self.phases.pop(command.phase_ref, None)
            phase.state = PhaseStatus.REFUSED
            self._report(PhaseReport(command.phase_ref, cfg.unit, PhaseStatus.REFUSED, None, str(exc)))
            raise
        return "dosing started"

    async def _start_plc(self, command: CommandData) -> str:
        name = str(command.parameters.get("phase"))
        cfg = self.config.plc_phases.get(name)
        if cfg is None:
            raise CommandRefused(
                f"{name!r} is not a PLC phase of {self.config.path} ({', '.join(self.config.plc_phases)})"
            )
        setpoints = {k: Decimal(v) for k, v in dict(command.parameters.get("setpoints", {})).items()}
        phase = PlcPhase(io=self.io, cfg=cfg, phase_ref=command.phase_ref, setpoints=setpoints, report=self._report)
        self.phases[command.phase_ref] = phase
        try:
            await phase.start()
        except (PermissiveFailed, CommandRefused) as exc:
            self.phases.pop(command.phase_ref, None)
            phase.state = PhaseStatus.REFUSED
            self._report(PhaseReport(command.phase_ref, cfg.unit, PhaseStatus.REFUSED, None, str(exc)))
            raise
        return f"{name} started"

    def _phase(self, phase_ref: str, unit: str, params: dict[str, Any], delivered: Decimal = Decimal(0)) -> DosingPhase:
        cfg = self.config.dosing[unit]
        return DosingPhase(
            io=self.io,
            cfg=cfg,
            phase_ref=phase_ref,
            source=str(params["source"]),
            target=Decimal(params["target"]),
            tolerance=Decimal(params["tolerance"]),
            quantity_unit=str(params.get("unit", "")),
            requires_agitator=bool(params.get("requires_agitator", False)),
            report=self._report,
            decimals=self.config.tags[cfg.totalizer].decimals,
            delivered_before=delivered,
            lead=self.leads.get(unit),
            settle_s=self.settle_s,
        )

    async def _rebuild(self, phase_ref: str) -> DosingPhase | PlcPhase:
        """A phase this process did not start (e.g. before a restart), rebuilt HELD from the database."""
        from equipment.commands import latest_state

        def load() -> tuple[Any, dict[str, Any] | None]:
            with self.recorder.factory() as session:
                state = latest_state(session, phase_ref)
            # A second session only after the first closed: SQLite writers queue (BEGIN IMMEDIATE).
            return state, self.recorder.start_parameters(phase_ref)

        state, params = await asyncio.to_thread(load)
        if state is None or state.state.final:
            raise CommandRefused(f"phase {phase_ref} is not an active phase of this runtime")
        if state.kind == CommandKind.START_PLC_PHASE.value:
            return self._rebuild_plc(phase_ref, state.unit)
        if params is None or state.unit not in self.config.dosing:
            raise CommandRefused(f"phase {phase_ref} is not an active dosing phase of this runtime")
        phase = self._phase(phase_ref, state.unit, params, state.actual or Decimal(0))
        phase.state = PhaseStatus.HELD
        phase.rebaseline()
        self.phases[phase_ref] = phase
        return phase

    def _rebuild_plc(self, phase_ref: str, unit: str) -> PlcPhase:
        for cfg in self.config.plc_phases.values():
            if cfg.unit == unit:
                phase = PlcPhase(io=self.io, cfg=cfg, phase_ref=phase_ref, setpoints={}, report=self._report)
                phase.state = PhaseStatus.HELD
                self.phases[phase_ref] = phase
                return phase
        raise CommandRefused(f"phase {phase_ref}: no PLC phase on {unit} in this configuration")

    async def _recover(self) -> None:
        """Phases left RUNNING by a previous runtime: drive outputs safe and put them on HELD."""
        units = {*self.config.dosing, *(p.unit for p in self.config.plc_phases.values())}
        stranded = await asyncio.to_thread(self.recorder.phases_to_recover, units)
        for row in stranded:
            phase = await self._rebuild(row.phase_ref)
            try:
                await self.guard.reconcile()
            except DriverError as exc:
                log.warning("outputs of %s not yet confirmed safe (%s); the guard keeps trying", row.phase_ref, exc)
            if isinstance(phase, PlcPhase):
                await phase.ask_hold()
            reason = "equipment runtime restarted while the phase was running: equipment state uncertain"
            self._report(PhaseReport(row.phase_ref, row.unit, PhaseStatus.HELD, row.actual, reason))
            phase.state = PhaseStatus.HELD

    def wake(self) -> None:
        """Look for commands now (tests and in-process callers)."""
        self._wake.set()
