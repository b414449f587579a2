"""The real plant simulator and the real equipment runtime, for tests.

``start_simulator(tmp_path)`` runs ``python -m equipment.simulator`` on free ports
and writes a plant configuration for it; ``start_runtime(services, config_path)``
runs :class:`equipment.runtime.EquipmentRuntime` in a background thread with its
own event loop. Both stop cleanly; use them as context managers or call ``stop()``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ebr.bootstrap import Services
from equipment.config import load_plant_config
from equipment.runtime import EquipmentRuntime
from equipment.simulator.certs import CertificatePair, make_certificate

EXAMPLE = Path(__file__).resolve().parents[2] / "equipment" / "examples" / "plant.yaml"


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


def write_config(path: Path, *, opcua_url: str, modbus_port: int, security: dict[str, Any] | None = None) -> Path:
    """The example plant configuration, pointed at these ports (and this security)."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["endpoints"]["plant"]["url"] = opcua_url
    data["endpoints"]["scale"]["port"] = modbus_port
    if security is not None:
        data["endpoints"]["plant"]["security"] = security
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def start_simulator(tmp_path: Path, *, security: str = "None", rate_hz: float = 20.0) -> SimulatorHandle:
    """Start the simulator on free ports; security ``None``, ``Sign``, ``SignAndEncrypt`` or ``all``."""
    opcua, modbus, control = free_port(), free_port(), free_port()
    certs = tmp_path / "certs"
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
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("ready"):
        process.kill()
        process.wait()
        raise RuntimeError(f"the simulator did not start: {line!r}")
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
    config = write_config(tmp_path / "plant.yaml", opcua_url=url, modbus_port=modbus, security=sec)
    return SimulatorHandle(process, url, modbus, control, config, client)


class RuntimeHandle:
    """An EquipmentRuntime running in a background thread with its own event loop."""

    def __init__(self, services: Services, config_path: Path, **options: Any) -> None:
        self.config = load_plant_config(config_path)
        self.runtime = EquipmentRuntime(
            config=self.config,
            factory=services.session_factory,
            audit=services.audit,
            clock=services.clock,
            database_url=services.settings.database_url,
            **options,
        )
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="equipment-runtime", daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._run())
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            self._error = exc
            self._started.set()
        finally:
            self._loop.close()

    async def _run(self) -> None:
        self._stop = asyncio.Event()
        await self.runtime.start()
        self._started.set()
        try:
            await self._stop.wait()
        finally:
            await self.runtime.close()

    def start(self) -> RuntimeHandle:
        self._thread.start()
        if not self._started.wait(timeout=30):
            raise TimeoutError("the equipment runtime did not start within 30 s")
        if self._error is not None:
            raise self._error
        return self

    def call(self, fn: Any) -> None:
        self._loop.call_soon_threadsafe(fn)

    def wait_connected(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not all(self.runtime.io.connected.values()) or len(self.runtime.io.latest) < len(self.config.tags):
            if time.monotonic() > deadline:
                raise TimeoutError(f"runtime not connected: {self.runtime.io.connected}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)

    def __enter__(self) -> RuntimeHandle:
        return self if self._thread.is_alive() else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_runtime(services: Services, config_path: Path, **options: Any) -> RuntimeHandle:
    """Start an equipment runtime for ``config_path`` against ``services``' database."""
    return RuntimeHandle(services, config_path, **options).start()
