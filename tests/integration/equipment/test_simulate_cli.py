"""`ebr simulate scale/state` find the running demo's simulator from the data folder, without flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ebr.cli import main
from ebr.demo_plant import PORTS_FILE, Simulator, running_demo_control
from ebr.plant.cli import DEFAULT_CONTROL, control_url


def test_the_cli_talks_to_the_demo_simulator_on_its_random_ports(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    work = data_dir / "demo-plant"
    work.mkdir(parents=True)
    try:
        simulator = Simulator(work).start()
    except RuntimeError as exc:
        pytest.fail(f"the plant simulator did not start: {exc}")
    try:
        written = json.loads((work / PORTS_FILE).read_text(encoding="utf-8"))
        assert written["control_port"] == simulator.control_port != 8840
        env = {"EBR_DATA_DIR": str(data_dir)}
        placed = CliRunner().invoke(main, ["simulate", "scale", "12.5"], env=env)
        assert placed.exit_code == 0, placed.output
        state = CliRunner().invoke(main, ["simulate", "state"], env=env)
        assert state.exit_code == 0, state.output
        assert "12.5" in state.output
    finally:
        simulator.stop()
    assert not (work / PORTS_FILE).exists()
    assert running_demo_control(data_dir) is None


def test_a_ports_file_left_by_a_dead_demo_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "demo-plant"
    work.mkdir()
    (work / PORTS_FILE).write_text(json.dumps({"control": "http://127.0.0.1:1", "pid": 2**22 + 7}), encoding="utf-8")
    assert running_demo_control(tmp_path) is None
    monkeypatch.setenv("EBR_DATA_DIR", str(tmp_path))
    assert control_url(None) == DEFAULT_CONTROL == "http://127.0.0.1:8840"
    assert control_url("http://127.0.0.1:9999") == "http://127.0.0.1:9999"
