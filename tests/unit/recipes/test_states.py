"""The ISA-88 state table, driven pair by pair."""

from __future__ import annotations

import itertools

import pytest

from ebr.core.errors import StateError
from recipes.states import (
    ACTIVE_STATES,
    COMPLETIONS,
    FINAL_STATES,
    TRANSIENT_STATES,
    TRANSITIONS,
    Command,
    State,
    apply,
    complete,
    states_allowing,
)

S, C = State, Command

# The expected table written out independently of the module, one line per legal pair.
EXPECTED = {
    (S.IDLE, C.START): S.RUNNING,
    (S.RUNNING, C.PAUSE): S.PAUSING,
    (S.PAUSED, C.RESUME): S.RUNNING,
    (S.RUNNING, C.HOLD): S.HOLDING,
    (S.PAUSING, C.HOLD): S.HOLDING,
    (S.PAUSED, C.HOLD): S.HOLDING,
    (S.RESTARTING, C.HOLD): S.HOLDING,
    (S.HELD, C.RESTART): S.RESTARTING,
    (S.RUNNING, C.STOP): S.STOPPING,
    (S.PAUSING, C.STOP): S.STOPPING,
    (S.PAUSED, C.STOP): S.STOPPING,
    (S.HOLDING, C.STOP): S.STOPPING,
    (S.HELD, C.STOP): S.STOPPING,
    (S.RESTARTING, C.STOP): S.STOPPING,
    (S.RUNNING, C.ABORT): S.ABORTING,
    (S.PAUSING, C.ABORT): S.ABORTING,
    (S.PAUSED, C.ABORT): S.ABORTING,
    (S.HOLDING, C.ABORT): S.ABORTING,
    (S.HELD, C.ABORT): S.ABORTING,
    (S.RESTARTING, C.ABORT): S.ABORTING,
    (S.STOPPING, C.ABORT): S.ABORTING,
    (S.COMPLETE, C.RESET): S.IDLE,
    (S.STOPPED, C.RESET): S.IDLE,
    (S.ABORTED, C.RESET): S.IDLE,
}


@pytest.mark.requirement("URS-REC-006")
@pytest.mark.parametrize(("state", "command"), list(itertools.product(State, Command)))
def test_every_state_and_command_pair_either_moves_as_isa88_says_or_is_refused_naming_the_allowed_states(
    state: State, command: Command
) -> None:
    if (state, command) in EXPECTED:
        assert apply(state, command) is EXPECTED[(state, command)]
        return
    with pytest.raises(StateError) as caught:
        apply(state, command)
    message = str(caught.value)
    assert f"{command} is not allowed in state {state}" in message
    for allowed in states_allowing(command):
        assert allowed.value in message


def test_the_table_holds_exactly_the_legal_pairs() -> None:
    assert dict(TRANSITIONS) == EXPECTED


@pytest.mark.requirement("URS-REC-006")
def test_transient_states_complete_by_themselves_and_running_completes_to_complete() -> None:
    assert complete(S.HOLDING) is S.HELD
    assert complete(S.RESTARTING) is S.RUNNING
    assert complete(S.STOPPING) is S.STOPPED
    assert complete(S.ABORTING) is S.ABORTED
    assert complete(S.PAUSING) is S.PAUSED
    assert complete(S.RUNNING) is S.COMPLETE
    assert set(COMPLETIONS) == TRANSIENT_STATES | {S.RUNNING}


def test_a_state_that_does_not_finish_by_itself_cannot_be_completed() -> None:
    with pytest.raises(StateError, match="Held does not complete by itself"):
        complete(S.HELD)


def test_final_idle_and_active_states_partition_all_states() -> None:
    assert FINAL_STATES | ACTIVE_STATES | {S.IDLE} == set(State)
    assert not FINAL_STATES & ACTIVE_STATES


def test_every_final_state_is_left_only_by_reset() -> None:
    for state in FINAL_STATES:
        assert [c for c in Command if (state, c) in TRANSITIONS] == [C.RESET]


def test_state_values_are_the_isa88_names() -> None:
    assert [s.value for s in State] == [
        "Idle", "Running", "Complete", "Pausing", "Paused", "Holding",
        "Held", "Restarting", "Stopping", "Stopped", "Aborting", "Aborted",
    ]  # fmt: skip
