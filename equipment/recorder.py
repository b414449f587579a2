"""The runtime's database side: claim commands, record phase reports, readings, trend, heartbeat.

Plain synchronous functions on a session factory; the runtime calls them with
``asyncio.to_thread`` so a slow database never delays the interlock path. Each
report is one transaction with its audit event (records are sacred).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from audit.chain import Entity
from audit.trail import AuditTrail
from ebr.core.clock import Clock
from ebr.core.db import unit_of_work
from equipment.commands import RUNTIME_ACTOR, STATE_CHANNEL, CommandStatus, PhaseStatus, notify
from equipment.dosing import PhaseReport, to_decimal
from equipment.drivers.base import TagValue
from equipment.interlocks import Trip
from equipment.models import Alarm, Command, Event, Heartbeat, PhaseState, Reading, TrendPoint

ACTIONS = {
    PhaseStatus.RUNNING: "equipment.phase.running",
    PhaseStatus.HELD: "equipment.phase.held",
    PhaseStatus.COMPLETE: "equipment.phase.completed",
    PhaseStatus.STOPPED: "equipment.phase.stopped",
    PhaseStatus.ABORTED: "equipment.phase.aborted",
    PhaseStatus.REFUSED: "equipment.phase.refused",
}


@dataclass(frozen=True)
class CommandData:
    """A claimed command, detached from its session."""

    id: int
    phase_ref: str
    kind: str
    unit: str
    parameters: dict[str, Any]
    submitted_at: dt.datetime


class Recorder:
    """Writes what the runtime learns; one instance per runtime."""

    def __init__(
        self, *, factory: sessionmaker[Session], audit: AuditTrail, clock: Clock, runtime_id: str, area: str
    ) -> None:
        self.factory, self.audit, self.clock = factory, audit, clock
        self.runtime_id, self.area = runtime_id, area
        self.started_at = clock.now()

    def claim_commands(self, units: Iterable[str]) -> list[CommandData]:
        """Take the pending commands for ``units``, oldest first (marked PICKED)."""
        with unit_of_work(self.factory) as session:
            query = select(Command).where(Command.status == CommandStatus.PENDING.value, Command.unit.in_(list(units)))
            rows = list(session.scalars(query.order_by(Command.id).with_for_update(skip_locked=True)))
            for row in rows:
                row.status, row.picked_at = CommandStatus.PICKED.value, self.clock.now()
            return [CommandData(r.id, r.phase_ref, r.kind, r.unit, dict(r.parameters), r.submitted_at) for r in rows]

    def finish_command(self, command_id: int, *, ok: bool, result: str) -> None:
        with unit_of_work(self.factory) as session:
            status = CommandStatus.DONE if ok else CommandStatus.REJECTED
            session.execute(update(Command).where(Command.id == command_id).values(status=status.value, result=result))

    def record(self, report: PhaseReport) -> None:
        """Phase state + event (+ alarm for a trip) + audit event, in one transaction."""
        now = self.clock.now()
        with unit_of_work(self.factory) as session:
            state = session.get(PhaseState, report.phase_ref)
            if state is None:
                state = PhaseState(phase_ref=report.phase_ref, kind="start_dosing", unit=report.unit, reason="")
                session.add(state)
            before = {"state": state.state, "actual": state.actual}
            state.state, state.actual, state.reason = report.state.value, report.actual, report.reason
            state.updated_at, state.runtime_id = now, self.runtime_id
            if report.state is PhaseStatus.RUNNING and state.started_at is None:
                state.started_at = now
            state.ended_at = now if report.state.final else None
            data = {"state": report.state.value, "actual": _text(report.actual), **report.data}
            trip = report.trip
            if trip is not None:
                data |= {"trip": trip.kind.value, "tag": trip.tag, "value": _text(trip.value)}
                session.add(
                    Alarm(
                        at=now,
                        unit=report.unit,
                        phase_ref=report.phase_ref,
                        condition=trip.kind.value,
                        tag=trip.tag,
                        value=_text(trip.value),
                        message=trip.message,
                    )
                )
            kind = "trip" if trip is not None else "state"
            session.add(
                Event(at=now, kind=kind, unit=report.unit, phase_ref=report.phase_ref, message=report.reason, data=data)
            )
            action = "equipment.interlock.tripped" if trip is not None else ACTIONS[report.state]
            self.audit.record(
                session,
                actor=RUNTIME_ACTOR,
                action=action,
                entity=Entity("phase", report.phase_ref),
                before=before,
                after={"state": report.state.value, "actual": report.actual, "unit": report.unit},
                reason=report.reason,
            )
            notify(session, STATE_CHANNEL, report.phase_ref)

    def alarm(self, unit: str, trip: Trip) -> None:
        """An alarm outside any phase (e.g. flow nobody commanded), with its event and audit event."""
        now = self.clock.now()
        with unit_of_work(self.factory) as session:
            alarm = Alarm(
                at=now,
                unit=unit,
                phase_ref=None,
                condition=trip.kind.value,
                tag=trip.tag,
                value=_text(trip.value),
                message=trip.message,
            )
            session.add(alarm)
            data = {"trip": trip.kind.value, "tag": trip.tag, "value": _text(trip.value)}
            session.add(Event(at=now, kind="alarm", unit=unit, phase_ref=None, message=trip.message, data=data))
            session.flush()
            self.audit.record(
                session,
                actor=RUNTIME_ACTOR,
                action="equipment.alarm.raised",
                entity=Entity("alarm", str(alarm.id)),
                after={"unit": unit, "condition": trip.kind.value, "value": _text(trip.value)},
                reason=trip.message,
            )

    def log_event(
        self, kind: str, message: str, *, unit: str | None = None, data: dict[str, Any] | None = None
    ) -> None:
        with unit_of_work(self.factory) as session:
            session.add(
                Event(at=self.clock.now(), kind=kind, unit=unit, phase_ref=None, message=message, data=data or {})
            )

    def phases_to_recover(self, units: Iterable[str]) -> list[PhaseState]:
        """Phases this area left RUNNING or PENDING-and-picked (their plant state is uncertain)."""
        with self.factory() as session:
            query = select(PhaseState).where(
                PhaseState.unit.in_(list(units)), PhaseState.state == PhaseStatus.RUNNING.value
            )
            return list(session.scalars(query))

    def start_parameters(self, phase_ref: str) -> dict[str, Any] | None:
        """Parameters of the last start command of ``phase_ref``."""
        with self.factory() as session:
            query = select(Command.parameters).where(Command.phase_ref == phase_ref, Command.kind == "start_dosing")
            row = session.execute(query.order_by(Command.id.desc()).limit(1)).first()
            return None if row is None else dict(row[0])

    def heartbeat(self, *, connected: bool, detail: str) -> None:
        with unit_of_work(self.factory) as session:
            row = session.get(Heartbeat, self.runtime_id)
            if row is None:
                row = Heartbeat(
                    runtime_id=self.runtime_id,
                    area=self.area,
                    host=socket.gethostname()[:200],
                    pid=os.getpid(),
                    started_at=self.started_at,
                )
                session.add(row)
            row.beat_at, row.connected, row.detail = self.clock.now(), connected, detail

    def readings(self, items: Sequence[TagValue], units: dict[str, str], decimals: dict[str, int]) -> None:
        """Upsert the latest value of each tag."""
        now = self.clock.now()
        with unit_of_work(self.factory) as session:
            for item in items:
                row = session.get(Reading, item.tag) or Reading(tag=item.tag)
                number = None
                if isinstance(item.value, int | float) and not isinstance(item.value, bool):
                    number = to_decimal(float(item.value), decimals.get(item.tag, 3))
                row.value = "" if item.value is None else str(number if number is not None else item.value)
                row.number, row.unit, row.quality = number, units.get(item.tag, ""), item.status[:64]
                row.source_ts, row.server_ts, row.updated_at = item.source_ts, item.server_ts, now
                session.add(row)

    def trend(self, points: Sequence[TrendPoint]) -> None:
        with unit_of_work(self.factory) as session:
            session.add_all(points)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def stale_before(now: dt.datetime, seconds: float) -> dt.datetime:
    return now - dt.timedelta(seconds=seconds)
