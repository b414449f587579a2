"""The demo's plant: the simulator as a child process and an equipment runtime beside it.

Used by ``ebr demo``: the simulator speaks OPC UA and Modbus on loopback ports, a
plant configuration (the example file pointed at those ports) tells the runtime
where to find it. The runtime runs in a thread of the demo process with the
demo's clock, so the records it writes share one time line with the batch.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from ebr.bootstrap import Services
from equipment.config import load_plant_config
from equipment.runtime_thread import RuntimeThread

EXAMPLE_PLANT = Path(__file__).resolve().parents[1] / "equipment" / "examples" / "plant.yaml"


PORTS_FILE = "simulator.json"
"""Written by the demo's simulator in its work folder (``<data dir>/demo-plant/``): its ports and pid."""


def running_demo_control(data_dir: Path) -> str | None:
    """The control URL of the demo simulator running for ``data_dir`` (None when none runs)."""
    path = data_dir / "demo-plant" / PORTS_FILE
    try:
        ports = json.loads(path.read_text(encoding="utf-8"))
        os.kill(int(ports["pid"]), 0)  # signal 0: is the process still there?
    except (OSError, ValueError, KeyError, TypeError):
        return None
    control = ports.get("control")
    return control if isinstance(control, str) else None


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Simulator:
    """``python -m equipment.simulator`` on loopback ports, with its HTTP control."""

    def __init__(self, work_dir: Path, *, opcua_port: int = 0, modbus_port: int = 0, control_port: int = 0) -> None:
        self.work_dir = work_dir
        self.opcua_port = opcua_port or free_port()
        self.modbus_port = modbus_port or free_port()
        self.control_port = control_port or free_port()
        self.process: subprocess.Popen[str] | None = None
        self.config_path = work_dir / "plant.yaml"
        self.ports_path = work_dir / PORTS_FILE

    def start(self) -> Simulator:
        """Start the process, wait for its ready line, write the plant configuration."""
        command = [
            sys.executable, "-m", "equipment.simulator",
            "--opcua-port", str(self.opcua_port), "--modbus-port", str(self.modbus_port),
            "--control-port", str(self.control_port), "--cert-dir", str(self.work_dir / "certs"),
        ]  # fmt: skip
        self.process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=os.environ | {"PYTHONUNBUFFERED": "1"},
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("ready"):
            self.stop()
            raise RuntimeError(f"the plant simulator did not start: {line!r}")
        data = yaml.safe_load(EXAMPLE_PLANT.read_text(encoding="utf-8"))
        data["endpoints"]["plant"]["url"] = line.split()[1]
        data["endpoints"]["scale"]["port"] = self.modbus_port
        self.config_path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
        # `ebr simulate scale/fault/state` read this to find the running demo's simulator without flags.
        ports = {
            "opcua_port": self.opcua_port,
            "modbus_port": self.modbus_port,
            "control_port": self.control_port,
            "control": f"http://127.0.0.1:{self.control_port}",
            "pid": self.process.pid,
        }
        self.ports_path.write_text(json.dumps(ports, indent=2) + "\n", encoding="utf-8")
        return self

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call the simulator's HTTP control (``/scale``, ``/set``, ``/state``…)."""
        data = json.dumps(body).encode() if body is not None else None
        url = f"http://127.0.0.1:{self.control_port}{path}"
        request = urllib.request.Request(url, data=data, method=method)
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback http
            return json.loads(response.read())

    def place_weight(self, kg: float) -> None:
        """Put ``kg`` on scale SC-01 (the simulator's API takes a JSON number)."""
        self.control("POST", "/scale", {"weight": kg})

    def stop(self) -> None:
        self.ports_path.unlink(missing_ok=True)
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_runtime(services: Services, config_path: Path, timeout: float = 30.0) -> RuntimeThread:
    """An equipment runtime in a background thread, started and connected (every tag has a value)."""
    runtime = RuntimeThread(
        load_plant_config(config_path),
        factory=services.session_factory,
        audit=services.audit,
        clock=services.clock,
        database_url=services.settings.database_url,
    ).start()
    runtime.wait_connected(timeout)
    return runtime
