"""The runtime's command side: LISTEN/poll for commands, execute them, rebuild and recover phases.

A mixin of :class:`equipment.runtime.EquipmentRuntime` (kept apart to keep modules
small); the attributes below are the runtime's. A command that fails is answered as
failed (never dropped); reading commands is supervised like every loop
(:mod:`equipment.supervision`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import make_url

from ebr.core.clock import Clock
from ebr.core.errors import EquipmentError
from equipment.commands import COMMAND_CHANNEL, START_KINDS, CommandKind, PhaseStatus
from equipment.compensation import StopLead
from equipment.config import PlantConfig
from equipment.dosing import DosingPhase, PhaseReport
from equipment.drivers.plantio import PlantIO
from equipment.errors import CommandRefused, DriverError, PermissiveFailed
from equipment.pli import PlcPhase
from equipment.recorder import CommandData, Recorder
from equipment.safety import OutputGuard
from equipment.supervision import Backoff, Supervision

log = logging.getLogger("equipment.runtime")


class CommandHandling:
    """Commands, phase rebuild after a restart, and recovery of phases left running."""

    config: PlantConfig
    io: PlantIO
    recorder: Recorder
    clock: Clock
    supervision: Supervision
    database_url: str | None
    units: list[str]
    poll_s: float
    start_max_age_s: float
    settle_s: float
    leads: dict[str, StopLead]
    guard: OutputGuard
    phases: dict[str, DosingPhase | PlcPhase]
    _wake: asyncio.Event

    if TYPE_CHECKING:

        def _report(self, report: PhaseReport) -> None: ...

        async def _retry(self, work: Callable[[], None], *, what: str) -> None: ...

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
