"""The ISA-88 state model of a procedural element, as data (pure).

One table, :data:`TRANSITIONS`, says which command moves which state where; the
execution engine, the tests (which drive every (state, command) pair) and the
validation documents all read it. Transient ("-ing") states finish on their own:
:data:`COMPLETIONS` says where each one lands when its logic is done, and a
running element lands in ``Complete`` when its work is finished.

::

    Idle --Start--> Running --(done)--> Complete --Reset--> Idle
    Running --Pause--> Pausing --(done)--> Paused --Resume--> Running
    Running|Pausing|Paused|Restarting --Hold--> Holding --(done)--> Held
    Held --Restart--> Restarting --(done)--> Running
    Running|Pausing|Paused|Holding|Held|Restarting --Stop--> Stopping --(done)--> Stopped
    any active state and Stopping --Abort--> Aborting --(done)--> Aborted
    Complete|Stopped|Aborted --Reset--> Idle
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from ebr.core.errors import StateError


class State(StrEnum):
    """States of a procedural element (procedure, unit procedure, operation, phase)."""

    IDLE = "Idle"
    RUNNING = "Running"
    COMPLETE = "Complete"
    PAUSING = "Pausing"
    PAUSED = "Paused"
    HOLDING = "Holding"
    HELD = "Held"
    RESTARTING = "Restarting"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    ABORTING = "Aborting"
    ABORTED = "Aborted"


class Command(StrEnum):
    """Commands an operator, a supervisor or the engine gives a procedural element."""

    START = "Start"
    PAUSE = "Pause"
    RESUME = "Resume"
    HOLD = "Hold"
    RESTART = "Restart"
    STOP = "Stop"
    ABORT = "Abort"
    RESET = "Reset"


S, C = State, Command

# States from which Hold, Stop and Abort are accepted.
_HOLDABLE = (S.RUNNING, S.PAUSING, S.PAUSED, S.RESTARTING)
_STOPPABLE = (S.RUNNING, S.PAUSING, S.PAUSED, S.HOLDING, S.HELD, S.RESTARTING)
_ABORTABLE = (*_STOPPABLE, S.STOPPING)

TRANSITIONS: Mapping[tuple[State, Command], State] = MappingProxyType(
    {
        (S.IDLE, C.START): S.RUNNING,
        (S.RUNNING, C.PAUSE): S.PAUSING,
        (S.PAUSED, C.RESUME): S.RUNNING,
        **{(state, C.HOLD): S.HOLDING for state in _HOLDABLE},
        (S.HELD, C.RESTART): S.RESTARTING,
        **{(state, C.STOP): S.STOPPING for state in _STOPPABLE},
        **{(state, C.ABORT): S.ABORTING for state in _ABORTABLE},
        (S.COMPLETE, C.RESET): S.IDLE,
        (S.STOPPED, C.RESET): S.IDLE,
        (S.ABORTED, C.RESET): S.IDLE,
    }
)
"""Every legal (state, command) pair and the state it leads to; any other pair is refused."""

COMPLETIONS: Mapping[State, State] = MappingProxyType(
    {
        S.RUNNING: S.COMPLETE,
        S.PAUSING: S.PAUSED,
        S.HOLDING: S.HELD,
        S.RESTARTING: S.RUNNING,
        S.STOPPING: S.STOPPED,
        S.ABORTING: S.ABORTED,
    }
)
"""Where a state goes by itself when its logic finishes (Running → Complete when the work is done)."""

TRANSIENT_STATES: frozenset[State] = frozenset({S.PAUSING, S.HOLDING, S.RESTARTING, S.STOPPING, S.ABORTING})
"""States that end on their own (see :data:`COMPLETIONS`)."""

FINAL_STATES: frozenset[State] = frozenset({S.COMPLETE, S.STOPPED, S.ABORTED})
"""States in which an element has ended; only Reset leaves them."""

ACTIVE_STATES: frozenset[State] = frozenset(set(State) - FINAL_STATES - {S.IDLE})
"""States in which an element has started and not yet ended."""


def allowed_commands(state: State) -> tuple[Command, ...]:
    """The commands accepted in ``state``, in the order of :class:`Command`."""
    return tuple(command for command in Command if (state, command) in TRANSITIONS)


def states_allowing(command: Command) -> tuple[State, ...]:
    """The states in which ``command`` is accepted, in the order of :class:`State`."""
    return tuple(state for state in State if (state, command) in TRANSITIONS)


def apply(state: State, command: Command) -> State:
    """The state after ``command``; raises :class:`StateError` naming the states that allow it."""
    try:
        return TRANSITIONS[(State(state), Command(command))]
    except KeyError:
        allowed = ", ".join(states_allowing(Command(command)))
        raise StateError(
            f"{Command(command)} is not allowed in state {State(state)}; it is allowed only in: {allowed}"
        ) from None


def complete(state: State) -> State:
    """The state a transient (or running) element reaches when its logic finishes.

    Raises :class:`StateError` if ``state`` does not finish by itself.
    """
    try:
        return COMPLETIONS[State(state)]
    except KeyError:
        finishing = ", ".join(COMPLETIONS)
        raise StateError(f"state {State(state)} does not complete by itself; only these do: {finishing}") from None
