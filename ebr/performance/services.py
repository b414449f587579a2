"""Units of work of production performance: the state recorder (an audit-append hook), states
set by a person, downtime reasons, and the reads the pages, the API and the metrics share.

:meth:`StateRecorder.after_append` runs inside the transaction of every audit event
(``AuditTrail(after_append=…)``, chained in the composition root like the outbox): a
state row exists exactly when the event that caused it does. ``derive`` says which
event means which state. A person's change (``set_state``, ``assign_reason``) appends its
own audit event in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from audit.chain import Entity
from audit.trail import AppendedEvent, AuditTrail
from ebr.core.clock import Clock
from ebr.core.errors import NotFound, StateError, ValidationError
from ebr.execution.models import Batch, BatchStep
from ebr.performance.config import SEPARATOR, PerformanceConfig
from ebr.performance.derive import NO_ORDER, classify
from ebr.performance.kpi import STOPS, Interval, StateKind, intervals_of
from ebr.performance.models import StopReason, UnitState
from equipment.models import Area, Equipment, Heartbeat

NO_AREA = "(no area)"
ACTIONS = frozenset(
    {
        "batch.step.started",
        "batch.step.completed",
        "batch.step.held",
        "equipment.phase.running",
        "equipment.phase.held",
        "equipment.interlock.tripped",
        "equipment.alarm.raised",
        "equipment.phase.completed",
        "equipment.phase.stopped",
        "equipment.phase.aborted",
        "batch.command.hold",
        "batch.command.restart",
        "batch.command.resume",
        "batch.completed",
        "batch.command.stop",
        "batch.command.abort",
        "equipment.status.changed",
    }
)
KINDS = {k.value: k for k in StateKind}
SETTABLE = (StateKind.PLANNED, StateKind.DOWN, StateKind.IDLE)
"""What a supervisor may set by hand (the runtime and the engine set running and held)."""


@dataclass(frozen=True)
class Target:
    """A unit a change applies to, with the batch and step it concerns."""

    unit: str
    batch: str | None
    step: str | None


def latest(session: Session, unit: str) -> UnitState | None:
    """The unit's current state row (None: nothing recorded yet)."""
    query = select(UnitState).where(UnitState.unit == unit).order_by(UnitState.since.desc(), UnitState.id.desc())
    return session.scalars(query.limit(1)).first()


def area_of(session: Session, unit: str) -> str:
    """The plant area of ``unit`` (its equipment tag), or ``(no area)``."""
    query = select(Area.name).join(Equipment, Equipment.area_id == Area.id).where(Equipment.tag == unit)
    return session.scalar(query) or NO_AREA


def append_state(
    session: Session,
    *,
    target: Target,
    state: StateKind,
    cause: str,
    at: dt.datetime,
    source: str,
    actor: str,
    audit_seq: int | None = None,
) -> UnitState | None:
    """Add a state row unless the unit is already in that state for that cause and batch."""
    now = latest(session, target.unit)
    batch = target.batch if target.batch is not None else (now.batch_number if now and state != "planned" else None)
    if now is not None and (now.state, now.cause, now.batch_number) == (state.value, cause, batch):
        return None
    if now is not None and at < now.since:
        at = now.since  # the history stays ordered even when two processes' clocks disagree
    row = UnitState(
        unit=target.unit,
        area=area_of(session, target.unit),
        state=state.value,
        cause=cause[:2000],
        batch_number=batch,
        step_path=target.step if state is not StateKind.PLANNED else None,
        since=at,
        source=source,
        actor=actor[:100],
        audit_seq=audit_seq,
    )
    session.add(row)
    session.flush()
    return row


class StateRecorder:
    """The audit-append hook that turns runtime and engine events into unit states."""

    def after_append(self, session: Session, event: AppendedEvent) -> None:
        """Record the state change ``event`` stands for (see ``ebr.performance.derive``)."""
        if event.action not in ACTIONS:
            return
        after = _after(event)
        change = classify(event.action, after, event.reason, event.actor)
        if change is None:
            return
        for target in self._targets(session, change.scope, change.state, event, after):
            state, cause = change.state, change.cause
            if state is StateKind.IDLE and target.batch and _batch_over(session, target.batch):
                # The engine audits batch.completed before the last step's completion.
                state, cause = StateKind.PLANNED, NO_ORDER
            append_state(
                session,
                target=target,
                state=state,
                cause=cause,
                at=event.ts,
                source="derived",
                actor=event.actor,
                audit_seq=event.seq,
            )

    def _targets(
        self, session: Session, scope: str, state: StateKind, event: AppendedEvent, after: dict[str, Any]
    ) -> list[Target]:
        if scope == "step":
            number, _, path = event.entity_id.partition("/")
            query = select(BatchStep.unit).join(Batch, Batch.id == BatchStep.batch_id)
            unit = session.scalar(query.where(Batch.number == number, BatchStep.path == path))
            return [Target(unit, number, path)] if unit else []
        if scope == "unit":
            unit = str(after.get("unit") or "")
            batch_id, _, path = event.entity_id.partition(":")
            found = session.scalar(select(Batch.number).where(Batch.id == batch_id)) if path else None
            return [Target(unit, found, path or None)] if unit else []
        if scope == "equipment":
            return [Target(event.entity_id, None, None)]
        return self._batch_units(
            session, event.entity_id, held_only=state is StateKind.RUNNING, every=scope == "batch_all"
        )

    @staticmethod
    def _batch_units(session: Session, number: str, *, held_only: bool, every: bool) -> list[Target]:
        units = session.scalars(select(UnitState.unit).where(UnitState.batch_number == number).distinct()).all()
        found = []
        for unit in sorted(units):
            now = latest(session, unit)
            if now is None or now.batch_number != number:
                continue  # the unit has moved on to another batch
            if every or (now.state == StateKind.HELD.value if held_only else now.state != StateKind.PLANNED.value):
                found.append(Target(unit, number, now.step_path))
        return found


def _batch_over(session: Session, number: str) -> bool:
    status = session.scalar(select(Batch.status).where(Batch.number == number))
    return status is not None and status not in ("created", "ready", "in_execution")


def _after(event: AppendedEvent) -> dict[str, Any]:
    after = json.loads(event.canonical).get("after") or {}
    return after if isinstance(after, dict) else {}


def set_state(
    session: Session, audit: AuditTrail, clock: Clock, *, actor: str, unit: str, state: str, cause: str
) -> UnitState:
    """A supervisor sets a unit's state by hand (planned downtime, down, or back to idle); audited."""
    try:
        kind = StateKind(state)
    except ValueError:
        kind = None
    if kind not in SETTABLE:
        raise ValidationError(
            f"state {state!r} cannot be set by hand; use one of {', '.join(k.value for k in SETTABLE)} "
            "(running and held come from the runtime and the batch)"
        )
    assert kind is not None
    if not cause.strip():
        raise ValidationError("say why (e.g. 'preventive maintenance PM-12'); the reason is part of the record")
    if session.scalar(select(Equipment.id).where(Equipment.tag == unit)) is None:
        raise NotFound(f"no unit {unit!r}; `ebr plant list` shows the plant's units")
    before = latest(session, unit)
    row = append_state(
        session, target=Target(unit, None, None), state=kind, cause=cause.strip(), at=clock.now(),
        source="person", actor=actor,
    )  # fmt: skip
    if row is None:
        raise StateError(f"{unit} is already {kind.value} ({cause.strip()}); nothing changed")
    audit.record(
        session,
        actor=actor,
        action="performance.state.set",
        entity=Entity("unit", unit),
        before=None if before is None else {"state": before.state, "cause": before.cause},
        after={"state": row.state, "cause": row.cause, "since": row.since},
        reason=cause.strip(),
    )
    return row


def silent_runtimes(
    session: Session, audit: AuditTrail, clock: Clock, *, actor: str, stale_after: dt.timedelta
) -> list[str]:
    """Units whose area's runtime is silent (no heartbeat for ``stale_after``) or disconnected → down.

    The runtime holds a running phase itself on a lost connection; this covers what it cannot
    report: the runtime process gone, or its link down between phases. Each unit changed is
    audited (``performance.unit.comms_lost``). Returns the units changed."""
    now = clock.now()
    changed: list[str] = []
    for beat in session.scalars(select(Heartbeat).order_by(Heartbeat.runtime_id)):
        if beat.connected and now - beat.beat_at <= stale_after:
            continue
        why = "disconnected" if beat.connected is False else f"silent since {beat.beat_at.isoformat()}"
        cause = f"communication lost: runtime {beat.runtime_id} {why}"
        for unit in units_of(session, beat.area):
            before = latest(session, unit)
            if before is None or before.state == StateKind.DOWN.value:
                continue
            row = append_state(
                session, target=Target(unit, None, None), state=StateKind.DOWN, cause=cause, at=now,
                source="derived", actor=actor,
            )  # fmt: skip
            if row is None:
                continue
            audit.record(
                session, actor=actor, action="performance.unit.comms_lost", entity=Entity("unit", unit),
                before={"state": before.state, "cause": before.cause}, after={"state": row.state, "cause": cause},
            )  # fmt: skip
            changed.append(unit)
    return changed


def stop_number(raw: str) -> int:
    """A stop's id from a URL (a forged or mistyped one is simply not found)."""
    if not raw.isdigit() or len(raw) > 12:
        raise NotFound(f"no stop {raw!r}; the list of stops shows the open ones")
    return int(raw)


def stop_end(session: Session, stop: UnitState, now: dt.datetime) -> dt.datetime:
    """When a stop ended (the unit's next state), or ``now`` while it lasts."""
    query = select(UnitState.since).where(
        UnitState.unit == stop.unit,
        (UnitState.since > stop.since) | and_(UnitState.since == stop.since, UnitState.id > stop.id),
    )
    following = session.scalar(query.order_by(UnitState.since, UnitState.id).limit(1))
    return following or now


def assign_reason(
    session: Session,
    audit: AuditTrail,
    clock: Clock,
    config: PerformanceConfig,
    *,
    actor: str,
    stop_id: int,
    reason: str,
    comment: str = "",
) -> StopReason:
    """Give a stop (a held or down period) a reason from its area's tree; audited.

    Raises NotFound (no such stop), ValidationError (not a stop, shorter than the
    threshold, a reason that is not a leaf of the area's tree)."""
    stop = session.get(UnitState, stop_id)
    if stop is None:
        raise NotFound(f"no stop {stop_id}; the list of stops shows the open ones")
    if stop.state not in {s.value for s in STOPS}:
        raise ValidationError(
            f"{stop.unit} was {stop.state} then, not stopped; a reason belongs to a held or down period"
        )
    now = clock.now()
    length = stop_end(session, stop, now) - stop.since
    if length < config.stop_threshold:
        raise ValidationError(
            f"this stop lasted {int(length.total_seconds())} s, under the "
            f"{int(config.stop_threshold.total_seconds())} s threshold: it counts as a minor stop and needs no reason"
        )
    path = SEPARATOR.join(p.strip() for p in reason.split(SEPARATOR.strip()) if p.strip())
    if not config.is_leaf(stop.area, path):
        raise ValidationError(f"{reason!r} is not a reason of {stop.area}: choose down to the last level of the tree")
    before = current_reason(session, stop.id)
    if before == path:
        raise StateError(f"the stop already has the reason {path!r}; nothing changed")
    row = StopReason(state_id=stop.id, reason=path, comment=comment.strip()[:2000], assigned_at=now, assigned_by=actor)
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="performance.downtime.reason_assigned",
        entity=Entity("stop", str(stop.id)),
        before=None if before is None else {"reason": before},
        after={"unit": stop.unit, "since": stop.since, "state": stop.state, "reason": path, "comment": row.comment},
        reason=row.comment or None,
    )
    return row


def current_reason(session: Session, stop_id: int) -> str | None:
    query = select(StopReason.reason).where(StopReason.state_id == stop_id).order_by(StopReason.id.desc())
    return session.scalar(query.limit(1))


# -- reads ----------------------------------------------------------------------------------


def units_of(session: Session, area: str | None) -> list[str]:
    """The unit tags of ``area`` (every unit with a recorded state when None), sorted."""
    if area is None:
        return sorted(session.scalars(select(UnitState.unit).distinct()).all())
    query = select(Equipment.tag).join(Area, Area.id == Equipment.area_id).where(Area.name == area)
    found = set(session.scalars(query).all()) | set(
        session.scalars(select(UnitState.unit).where(UnitState.area == area).distinct()).all()
    )
    return sorted(found)


def areas(session: Session) -> list[str]:
    return sorted(
        set(session.scalars(select(Area.name)).all()) | set(session.scalars(select(UnitState.area).distinct()))
    )


def history(session: Session, units: Sequence[str], since: dt.datetime, until: dt.datetime) -> list[Interval]:
    """The units' states as intervals between ``since`` and ``until`` (with the state each was in
    at ``since``), each stop with its current reason."""
    if not units:
        return []
    cols = (UnitState.unit, UnitState.state, UnitState.since, UnitState.cause, UnitState.batch_number, UnitState.id)
    rows: list[tuple[Any, ...]] = []
    for unit in units:
        before = select(*cols).where(UnitState.unit == unit, UnitState.since <= since)
        first = session.execute(before.order_by(UnitState.since.desc(), UnitState.id.desc()).limit(1)).first()
        if first is not None:
            rows.append(tuple(first))
    window = (UnitState.unit.in_(list(units)), UnitState.since > since, UnitState.since < until)
    rows += session.execute(select(*cols).where(*window)).all()
    rows.sort(key=lambda r: (r[0], r[2], r[5]))
    intervals = intervals_of([(u, KINDS[k], at, c, b, i) for u, k, at, c, b, i in rows], until)
    # The reasons of the window's stops in one query (the latest assignment of a stop wins).
    query = (
        select(StopReason.state_id, StopReason.reason)
        .join(UnitState, UnitState.id == StopReason.state_id)
        .where(UnitState.unit.in_(list(units)), UnitState.since < until)
        .order_by(StopReason.id)
    )
    reasons = {state_id: reason for state_id, reason in session.execute(query)}  # noqa: C416 - rows, not pairs
    return [
        Interval(i.unit, i.state, max(i.start, since), i.end, i.cause, i.batch, reasons.get(i.id or 0), i.id)
        if i.id in reasons or i.start < since
        else i
        for i in intervals
    ]


def count_states(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(UnitState)) or 0
