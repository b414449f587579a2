"""Which audited event means which unit state (the table of ebr.performance.derive)."""

from __future__ import annotations

import pytest

from ebr.performance.derive import classify
from ebr.performance.kpi import StateKind


@pytest.mark.parametrize(
    ("action", "after", "reason", "state", "cause"),
    [
        ("batch.step.started", {}, None, StateKind.RUNNING, ""),
        ("batch.step.completed", {}, None, StateKind.IDLE, "waiting for the next step"),
        ("equipment.interlock.tripped", {"unit": "R-101"}, "level HH", StateKind.HELD, "interlock: level HH"),
        ("equipment.phase.held", {"unit": "R-101"}, "communication lost with opc.tcp://plc", StateKind.DOWN,
         "communication lost: communication lost with opc.tcp://plc"),
        ("equipment.phase.held", {"unit": "R-101"}, "operator request", StateKind.HELD, "operator request"),
        ("equipment.alarm.raised", {"unit": "R-101", "condition": "uncommanded_flow"}, "flow 3 L/min", StateKind.DOWN,
         "alarm uncommanded_flow: flow 3 L/min"),
        ("batch.command.hold", {}, "pump noise", StateKind.HELD, "held by sam: pump noise"),
        ("batch.completed", {}, None, StateKind.PLANNED, "no order"),
        ("equipment.status.changed", {"status": "maintenance"}, "PM-12", StateKind.PLANNED, "maintenance: PM-12"),
        ("equipment.status.changed", {"status": "out_of_service"}, "leak", StateKind.DOWN, "out of service: leak"),
    ],
)  # fmt: skip
def test_each_event_moves_the_unit_to_its_state_with_a_cause(
    action: str, after: dict[str, str], reason: str | None, state: StateKind, cause: str
) -> None:
    change = classify(action, after, reason, "sam")
    assert change is not None
    assert (change.state, change.cause) == (state, cause)


@pytest.mark.parametrize("action", ["batch.step.recorded", "user.login", "equipment.status.changed"])
def test_events_that_change_no_state_are_ignored(action: str) -> None:
    assert classify(action, {"status": "in_use"}, None, "sam") is None


def test_a_stop_command_that_did_not_end_the_batch_changes_nothing() -> None:
    assert classify("batch.command.stop", {"status": "in_execution"}, None, "sam") is None
