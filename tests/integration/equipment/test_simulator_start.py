"""The simulator launcher survives a port taken between the check and the bind (parallel test runs)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from equipment.simulator import launch


@pytest.fixture
def taken() -> Iterator[int]:
    with socket.socket() as sock:  # another process listens on this port
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_start_on_a_taken_port_is_retried_on_new_ports(
    tmp_path: Path, taken: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    real, handed = launch.free_port, list[int]()

    def racing() -> int:  # the first three "free" ports: one is taken by the time the simulator binds
        port = taken if len(handed) < 3 else real()
        handed.append(port)
        return port

    monkeypatch.setattr(launch, "free_port", racing)
    with launch.start_simulator(tmp_path) as sim:
        assert taken not in (sim.modbus_port, sim.control_port)
        assert f":{taken}/" not in sim.opcua_url
    assert len(handed) == 6


def test_a_simulator_that_cannot_start_says_why(tmp_path: Path, taken: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(launch, "free_port", lambda: taken)
    with pytest.raises(RuntimeError, match="the simulator did not start") as caught:
        launch.start_simulator(tmp_path)
    assert "address already in use" in str(caught.value).lower(), "the simulator's own error is in the message"
