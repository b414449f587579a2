"""Start the simulator as a subprocess on free ports, with a plant configuration pointing at it.

For tests, benchmarks and the demo: ``start_simulator(folder)`` returns a
:class:`SimulatorHandle` (``opcua_url``, ``modbus_port``, ``control_port``,
``config_path``, ``stop()``, ``kill()``, and helpers for the HTTP control endpoint).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from equipment.simulator.certs import CertificatePair, make_certificate

EXAMPLE = Path(str(resources.files("equipment") / "examples" / "plant.yaml"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class SimulatorHandle:
    """A running simulator process and the plant configuration that points at it."""

    process: subprocess.Popen[str]
    opcua_url: str
    modbus_port: int
    control_port: int
    config_path: Path
    client_certificate: CertificatePair | None = None
    stopped: bool = field(default=False)

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.control_port}{path}", data=data, method=method)
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - fixed http://127.0.0.1 URL
            return json.loads(response.read())

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self.control("GET", "/state")
        return result

    def set(self, **values: Any) -> None:
        """Set plant values, e.g. ``set(**{"R-101.level": 1500})``."""
        self.control("POST", "/set", values)

    def place_weight(self, kg: float) -> None:
        self.control("POST", "/scale", {"weight": kg})

    def fault(self, name: str, on: bool = True, **extra: Any) -> None:
        self.control("POST", "/fault", {"name": name, "on": on, **extra})

    def writes(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.control("GET", "/writes")["writes"]
        return result

    def kill(self) -> None:
        """SIGKILL: the server vanishes without a goodbye, as in a crash."""
        self.process.kill()
        self.process.wait(timeout=10)
        self._closed()

    def _closed(self) -> None:
        self.stopped = True
        if self.process.stdout is not None:
            self.process.stdout.close()

    def stop(self) -> None:
        if self.stopped:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self._closed()

    def __enter__(self) -> SimulatorHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def write_config(
    path: Path,
    *,
    opcua_url: str,
    modbus_port: int,
    security: dict[str, Any] | None = None,
    username: str | None = None,
    password_env: str = "EBR_OPCUA_PASSWORD",  # noqa: S107 - the name of a variable, not a password
) -> Path:
    """The example plant configuration, pointed at these ports (and this security and user)."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["endpoints"]["plant"]["url"] = opcua_url
    data["endpoints"]["scale"]["port"] = modbus_port
    if security is not None:
        data["endpoints"]["plant"]["security"] = security
    if username is not None:
        data["endpoints"]["plant"] |= {"username": username, "password_env": password_env}
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def start_simulator(
    folder: Path, *, security: str = "None", rate_hz: float = 20.0, username: str | None = None, password: str = ""
) -> SimulatorHandle:
    """Start the simulator on free ports; security ``None``, ``Sign``, ``SignAndEncrypt`` or ``all``.

    Certificates and ``plant.yaml`` are written into ``folder``. A free port can be taken
    by another process between the check and the simulator's bind (parallel test runs),
    so a start that fails is retried on new ports; the last failure's output is reported.
    """
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            return _start_once(folder, security=security, rate_hz=rate_hz, username=username, password=password)
        except RuntimeError:
            if attempt == START_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


START_ATTEMPTS = 3


def _start_once(folder: Path, *, security: str, rate_hz: float, username: str | None, password: str) -> SimulatorHandle:
    opcua, modbus, control = free_port(), free_port(), free_port()
    certs = folder / "certs"
    folder.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "equipment.simulator",
        "--opcua-port",
        str(opcua),
        "--modbus-port",
        str(modbus),
        "--control-port",
        str(control),
        "--security",
        security,
        "--cert-dir",
        str(certs),
        "--rate",
        str(rate_hz),
    ]
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    if username is not None:
        command += ["--username", username]
        env["EBR_SIMULATOR_PASSWORD"] = password
    errors = folder / "simulator-stderr.log"
    with errors.open("wb") as stderr:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed arguments
            command,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
        )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("ready"):
        process.kill()
        process.wait()
        process.stdout.close()
        tail = errors.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"the simulator did not start: {line!r}; " + " | ".join(tail))
    url = line.split()[1]
    client: CertificatePair | None = None
    sec: dict[str, Any] | None = None
    if security in ("Sign", "SignAndEncrypt"):
        client = make_certificate(certs, "client", "urn:ebr:equipment-runtime:test")
        sec = {
            "mode": security,
            "policy": "Basic256Sha256",
            "certificate": str(client.certificate),
            "private_key": str(client.private_key),
        }
    config = write_config(folder / "plant.yaml", opcua_url=url, modbus_port=modbus, security=sec, username=username)
    return SimulatorHandle(process, url, modbus, control, config, client)
