"""The command table: how the application talks to ``ebr runtime`` (and hears back).

The application writes a command row in its own transaction (``submit_command`` or
the ``start_dosing`` shortcut); the runtime claims it, acts on the plant and writes
the phase state, events, alarms, readings and trend rows that the query functions
here return. On PostgreSQL a ``NOTIFY`` on :data:`COMMAND_CHANNEL` wakes the runtime
at commit (and the runtime notifies :data:`STATE_CHANNEL`); on SQLite both sides
poll a few times per second.

Quantities cross this boundary as ``Decimal`` (stored as decimal strings in JSON).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from ebr.core.clock import Clock, SystemClock
from equipment.errors import CommandRefused
from equipment.models import Alarm, Command, Event, Heartbeat, PhaseState, Reading, TrendPoint

COMMAND_CHANNEL = "ebr_equipment_command"
STATE_CHANNEL = "ebr_equipment_state"
RUNTIME_ACTOR = "system:equipment-runtime"
HEARTBEAT_STALE_AFTER = dt.timedelta(seconds=3)


class CommandKind(StrEnum):
    """What the application can ask the runtime to do."""

    START_DOSING = "start_dosing"
    START_PLC_PHASE = "start_plc_phase"
    HOLD = "hold"
    RESTART = "restart"
    STOP = "stop"
    ABORT = "abort"


class CommandStatus(StrEnum):
    PENDING = "pending"
    PICKED = "picked"
    DONE = "done"
    REJECTED = "rejected"


class PhaseStatus(StrEnum):
    """State of an automated phase as the runtime reports it (ISA-88 subset)."""

    PENDING = "pending"  # command written, runtime has not taken it yet
    RUNNING = "running"
    HELD = "held"
    COMPLETE = "complete"
    STOPPED = "stopped"
    ABORTED = "aborted"
    REFUSED = "refused"  # a permissive did not hold; nothing was started

    @property
    def final(self) -> bool:
        return self in (PhaseStatus.COMPLETE, PhaseStatus.STOPPED, PhaseStatus.ABORTED, PhaseStatus.REFUSED)


START_KINDS = frozenset({CommandKind.START_DOSING, CommandKind.START_PLC_PHASE})


@dataclass(frozen=True)
class PhaseSnapshot:
    """A phase's state as last reported (quantities exact)."""

    phase_ref: str
    kind: str
    unit: str
    state: PhaseStatus
    target: Decimal | None
    actual: Decimal | None
    quantity_unit: str | None
    reason: str
    started_at: dt.datetime | None
    updated_at: dt.datetime
    ended_at: dt.datetime | None


@dataclass(frozen=True)
class RuntimeStatus:
    """Whether an equipment runtime is alive (a heartbeat newer than the stale limit)."""

    alive: bool
    runtime_id: str | None
    beat_at: dt.datetime | None
    connected: bool
    detail: str


def _decimal(name: str, value: Any) -> Decimal:
    if isinstance(value, float):
        raise CommandRefused(f"{name}: float refused, pass a Decimal or a decimal string")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise CommandRefused(f"{name}: {value!r} is not a decimal number") from None
    if not number.is_finite():
        raise CommandRefused(f"{name}: {value!r} is not a finite number")
    return number


def _validate_dosing(params: Mapping[str, Any]) -> dict[str, Any]:
    missing = [key for key in ("source", "target", "tolerance", "unit") if key not in params]
    if missing:
        raise CommandRefused(f"start_dosing needs {', '.join(missing)}")
    target = _decimal("target", params["target"])
    tolerance = _decimal("tolerance", params["tolerance"])
    if target <= 0:
        raise CommandRefused(f"target {target} must be greater than zero")
    if tolerance < 0 or tolerance >= target:
        raise CommandRefused(f"tolerance {tolerance} must be at least zero and below the target {target}")
    clean = dict(params)
    clean["target"] = format(target, "f")
    clean["tolerance"] = format(tolerance, "f")
    clean["requires_agitator"] = bool(params.get("requires_agitator", False))
    return clean


def _active_state(session: Session, phase_ref: str) -> PhaseState | None:
    return session.get(PhaseState, phase_ref)


def _check_allowed(session: Session, kind: CommandKind, phase_ref: str) -> None:
    state = _active_state(session, phase_ref)
    if kind in START_KINDS:
        if state is not None and not PhaseStatus(state.state).final:
            raise CommandRefused(f"phase {phase_ref} is already {state.state}; stop it before starting it again")
        return
    if state is None:
        raise CommandRefused(f"phase {phase_ref} was never started; {kind.value} needs a started phase")
    allowed = {
        CommandKind.HOLD: {PhaseStatus.RUNNING, PhaseStatus.PENDING},
        CommandKind.RESTART: {PhaseStatus.HELD},
        CommandKind.STOP: {PhaseStatus.RUNNING, PhaseStatus.HELD, PhaseStatus.PENDING},
        CommandKind.ABORT: {PhaseStatus.RUNNING, PhaseStatus.HELD, PhaseStatus.PENDING},
    }[kind]
    if PhaseStatus(state.state) not in allowed:
        names = ", ".join(sorted(s.value for s in allowed))
        raise CommandRefused(f"phase {phase_ref} is {state.state}; {kind.value} is allowed only when {names}")


def notify(session: Session, channel: str, payload: str = "") -> None:
    """``NOTIFY channel`` on PostgreSQL (delivered at commit); nothing on SQLite, which polls."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload})


def submit_command(
    session: Session,
    *,
    actor: str,
    kind: CommandKind | str,
    phase_ref: str,
    unit: str,
    parameters: Mapping[str, Any] | None = None,
    clock: Clock | None = None,
) -> int:
    """Write a command for the runtime in the caller's transaction; return its id.

    Raises CommandRefused when the command is malformed or not allowed in the
    phase's current state (the runtime checks again when it executes it). The caller
    records the GMP meaning (e.g. the batch step started) in its audit event.
    """
    try:
        kind = CommandKind(kind)
    except ValueError:
        raise CommandRefused(
            f"unknown command {kind!r}; use one of {', '.join(k.value for k in CommandKind)}"
        ) from None
    params = dict(parameters or {})
    if kind is CommandKind.START_DOSING:
        params = _validate_dosing(params)
    if kind is CommandKind.START_PLC_PHASE and not params.get("phase"):
        raise CommandRefused("start_plc_phase needs the phase name from the plant configuration (plc_phases)")
    _check_allowed(session, kind, phase_ref)
    now = (clock or SystemClock()).now()
    command = Command(
        phase_ref=phase_ref,
        kind=kind.value,
        unit=unit,
        parameters=params,
        submitted_at=now,
        submitted_by=actor,
        status=CommandStatus.PENDING.value,
        result="",
    )
    session.add(command)
    if kind in START_KINDS:
        _reset_phase(session, kind=kind, phase_ref=phase_ref, unit=unit, params=params, now=now)
    session.flush()
    notify(session, COMMAND_CHANNEL, str(command.id))
    return command.id


def _reset_phase(
    session: Session, *, kind: CommandKind, phase_ref: str, unit: str, params: Mapping[str, Any], now: dt.datetime
) -> None:
    state = _active_state(session, phase_ref) or PhaseState(phase_ref=phase_ref)
    state.kind = kind.value
    state.unit = unit
    state.state = PhaseStatus.PENDING.value
    state.target = Decimal(params["target"]) if "target" in params else None
    state.actual = None
    state.quantity_unit = params.get("unit")
    state.reason = ""
    state.started_at = None
    state.updated_at = now
    state.ended_at = None
    session.add(state)


def start_dosing(
    session: Session,
    *,
    actor: str,
    phase_ref: str,
    source: str,
    destination: str,
    target: Decimal,
    tolerance: Decimal,
    unit: str = "L",
    requires_agitator: bool = False,
    clock: Clock | None = None,
) -> int:
    """Ask the runtime to dose ``target`` ± ``tolerance`` (absolute, in ``unit``) from ``source``."""
    params = {
        "source": source,
        "target": target,
        "tolerance": tolerance,
        "unit": unit,
        "requires_agitator": requires_agitator,
    }
    return submit_command(
        session,
        actor=actor,
        kind=CommandKind.START_DOSING,
        phase_ref=phase_ref,
        unit=destination,
        parameters=params,
        clock=clock,
    )


def start_plc_phase(
    session: Session,
    *,
    actor: str,
    phase_ref: str,
    phase: str,
    unit: str,
    setpoints: Mapping[str, Decimal],
    clock: Clock | None = None,
) -> int:
    """Ask the runtime to run the PLC phase ``phase`` (e.g. ``R-101.HEAT``) with ``setpoints``."""
    params = {"phase": phase, "setpoints": {k: format(_decimal(k, v), "f") for k, v in setpoints.items()}}
    return submit_command(
        session,
        actor=actor,
        kind=CommandKind.START_PLC_PHASE,
        phase_ref=phase_ref,
        unit=unit,
        parameters=params,
        clock=clock,
    )


def latest_state(session: Session, phase_ref: str) -> PhaseSnapshot | None:
    """The phase's last reported state, or None when no start was ever submitted."""
    row = session.get(PhaseState, phase_ref, populate_existing=True)
    if row is None:
        return None
    return PhaseSnapshot(
        phase_ref=row.phase_ref,
        kind=row.kind,
        unit=row.unit,
        state=PhaseStatus(row.state),
        target=row.target,
        actual=row.actual,
        quantity_unit=row.quantity_unit,
        reason=row.reason,
        started_at=row.started_at,
        updated_at=row.updated_at,
        ended_at=row.ended_at,
    )


def command_result(session: Session, command_id: int) -> tuple[CommandStatus, str]:
    """``(status, result message)`` of a submitted command."""
    row = session.get(Command, command_id, populate_existing=True)
    if row is None:
        raise CommandRefused(f"no command with id {command_id}")
    return CommandStatus(row.status), row.result


def readings(session: Session, tags: Iterable[str] | None = None) -> dict[str, Reading]:
    """The latest reading of each tag (all tags when ``tags`` is None)."""
    query = select(Reading)
    if tags is not None:
        query = query.where(Reading.tag.in_(list(tags)))
    return {row.tag: row for row in session.scalars(query.execution_options(populate_existing=True))}


def trend(
    session: Session, tag: str, *, phase_ref: str | None = None, since: dt.datetime | None = None
) -> list[TrendPoint]:
    """Downsampled trend points of ``tag`` in time order (optionally of one phase, or since a time)."""
    query = select(TrendPoint).where(TrendPoint.tag == tag)
    if phase_ref is not None:
        query = query.where(TrendPoint.phase_ref == phase_ref)
    if since is not None:
        query = query.where(TrendPoint.at >= since)
    return list(session.scalars(query.order_by(TrendPoint.at, TrendPoint.id)))


def events(session: Session, *, phase_ref: str | None = None, after_id: int = 0, limit: int = 500) -> list[Event]:
    """Runtime events newer than ``after_id`` (optionally of one phase), oldest first."""
    query = select(Event).where(Event.id > after_id)
    if phase_ref is not None:
        query = query.where(Event.phase_ref == phase_ref)
    return list(session.scalars(query.order_by(Event.id).limit(limit)))


def alarms(session: Session, *, phase_ref: str | None = None, open_only: bool = False) -> list[Alarm]:
    """Alarms (interlock trips), oldest first; ``open_only`` keeps the unacknowledged ones."""
    query = select(Alarm)
    if phase_ref is not None:
        query = query.where(Alarm.phase_ref == phase_ref)
    if open_only:
        query = query.where(Alarm.acknowledged_at.is_(None))
    return list(session.scalars(query.order_by(Alarm.id)))


def runtime_status(
    session: Session, *, now: dt.datetime, stale_after: dt.timedelta = HEARTBEAT_STALE_AFTER
) -> RuntimeStatus:
    """Is a runtime alive? True when its newest heartbeat is younger than ``stale_after``."""
    query = select(Heartbeat).order_by(Heartbeat.beat_at.desc()).limit(1)
    row = session.scalars(query.execution_options(populate_existing=True)).first()
    if row is None:
        return RuntimeStatus(False, None, None, False, "no equipment runtime has ever run: start `ebr runtime`")
    alive = now - row.beat_at < stale_after
    detail = row.detail if alive else f"last heartbeat at {row.beat_at.isoformat()}: is `ebr runtime` running?"
    return RuntimeStatus(alive, row.runtime_id, row.beat_at, row.connected and alive, detail)


def readings_stale(status: RuntimeStatus) -> str | None:
    """Why the stored readings are not current now (shown beside them), or None when they are.

    Readings are written on change, so their own timestamps cannot tell a steady value from
    a runtime that stopped writing: the heartbeat can (dead, not connected, or readings failing).
    """
    if status.alive and status.connected:
        return None
    return f"not current: {status.detail}" if status.detail else "not current: the equipment runtime is not connected"


def wait_for_state(
    factory: sessionmaker[Session],
    phase_ref: str,
    states: Collection[PhaseStatus],
    *,
    timeout: float,
    poll: float = 0.02,
) -> PhaseSnapshot:
    """Poll until the phase reaches one of ``states``; raise TimeoutError naming the last state seen."""
    deadline = time.monotonic() + timeout
    last: PhaseSnapshot | None = None
    while True:
        with factory() as session:
            last = latest_state(session, phase_ref)
        if last is not None and last.state in states:
            return last
        if time.monotonic() >= deadline:
            seen = "nothing" if last is None else f"{last.state.value} ({last.reason})"
            raise TimeoutError(f"phase {phase_ref} did not reach {sorted(states)} in {timeout} s; last seen {seen}")
        time.sleep(poll)
