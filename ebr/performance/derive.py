"""Which audit event puts a unit in which state (pure: the table the state recorder reads).

The runtime and the engine already audit every state change; the performance package
adds no call to them. Each event below moves the unit(s) it names to a state of the
ISO 22400 time model, with a cause that says why:

=============================  =========================  ====================================
audit event                    unit(s)                    state (cause)
=============================  =========================  ====================================
batch.step.started             the step's unit            running (batch, step)
batch.step.completed           the step's unit            idle (a batch assigned, nothing runs)
batch.step.held                the step's unit            held (the runtime's reason)
equipment.phase.running        ``after.unit``             running
equipment.phase.held           ``after.unit``             held (reason), or down when the
                                                          reason is a lost connection
equipment.interlock.tripped    ``after.unit``             held (interlock: the trip's reason), or
                                                          down when the connection was lost
equipment.alarm.raised         ``after.unit``             down (alarm: condition)
equipment.phase.completed|     ``after.unit``             idle
stopped|aborted|refused
batch.command.hold             the batch's active units   held (held by <person>: reason)
batch.command.restart|resume   the batch's active units   running
batch.completed, batch.        the batch's units          planned (no order)
command.stop|abort
equipment.status.changed       the equipment (tag)        planned (maintenance, cleaning) or
                                                          down (out of service)
=============================  =========================  ====================================

Out of shift is not recorded: it is the time outside the shift calendar (``kpi``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ebr.performance.kpi import StateKind

NO_ORDER = "no order"
COMMS_WORDS = ("communication", "connection", "disconnected", "comms", "link")


@dataclass(frozen=True)
class Change:
    """What an event does: ``state`` with ``cause`` for the units ``scope`` designates."""

    state: StateKind
    cause: str
    scope: str
    """``step`` (the event's batch step), ``unit`` (``after.unit``), ``batch`` (the batch's active
    units), ``batch_all`` (every unit the batch used), ``equipment`` (the entity is the tag)."""


def classify(action: str, after: dict[str, Any], reason: str | None, actor: str) -> Change | None:
    """The state change an audit event stands for, or None for an event that changes no state."""
    why = (reason or "").strip()
    match action:
        case "batch.step.started":
            return Change(StateKind.RUNNING, "", "step")
        case "batch.step.completed":
            return Change(StateKind.IDLE, "waiting for the next step", "step")
        case "batch.step.held":
            return Change(StateKind.HELD, why or "held by the runtime", "step")
        case "equipment.phase.running":
            return Change(StateKind.RUNNING, "", "unit")
        case "equipment.phase.held":
            if _comms(why):
                return Change(StateKind.DOWN, f"communication lost: {why}", "unit")
            return Change(StateKind.HELD, why or "held by the runtime", "unit")
        case "equipment.interlock.tripped":
            if _comms(why):
                return Change(StateKind.DOWN, f"communication lost: {why}", "unit")
            return Change(StateKind.HELD, f"interlock: {why}" if why else "interlock", "unit")
        case "equipment.alarm.raised":
            condition = str(after.get("condition") or "alarm")
            return Change(StateKind.DOWN, f"alarm {condition}: {why}".rstrip(": "), "unit")
        case "equipment.phase.completed" | "equipment.phase.stopped" | "equipment.phase.aborted":
            return Change(StateKind.IDLE, "waiting for the next step", "unit")
        case "batch.command.hold":
            return Change(StateKind.HELD, f"held by {actor}" + (f": {why}" if why else ""), "batch")
        case "batch.command.restart" | "batch.command.resume":
            return Change(StateKind.RUNNING, "", "batch")
        case "batch.completed":
            return Change(StateKind.PLANNED, NO_ORDER, "batch_all")
        case "batch.command.stop" | "batch.command.abort":
            status = str(after.get("status") or "")
            if status in ("complete", "aborted"):
                return Change(StateKind.PLANNED, NO_ORDER, "batch_all")
            return None
        case "equipment.status.changed":
            return _equipment_status(str(after.get("status") or ""), why)
    return None


def _comms(reason: str) -> bool:
    """A lost connection to the equipment is unplanned downtime, not a process hold."""
    return any(word in reason.lower() for word in COMMS_WORDS)


def _equipment_status(status: str, why: str) -> Change | None:
    if status == "maintenance":
        return Change(StateKind.PLANNED, f"maintenance: {why}".rstrip(": "), "equipment")
    if status == "out_of_service":
        return Change(StateKind.DOWN, f"out of service: {why}".rstrip(": "), "equipment")
    if status == "dirty":
        return Change(StateKind.PLANNED, "cleaning", "equipment")
    if status == "clean":
        return Change(StateKind.PLANNED, NO_ORDER, "equipment")
    return None
