"""The foreign OPC UA server (node-opcua, ``node_opcua_server.js``) as a restartable plant for tests.

``VendorPlant.start(folder)`` runs the server on a free port with an HTTP control port;
``restart()`` kills it and starts it again on the same port (a PLC restart: the
totalizer starts again at 0, the level stays where the product is);
``write_config(path, ...)`` writes a plant file that maps the vendor's node ids, %
and L/s into the logical tags of R-101.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support.components import missing, require_executable
from tests.support.plant import free_port

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "tests" / "support" / "node_opcua_server.js"


def node_modules() -> Path:
    """node-opcua installed under var/ (installed with npm on first use, as REAL-PARTS.md describes)."""
    folder = Path(os.environ.get("EBR_NODE_OPCUA_DIR", ROOT / "var" / "node-opcua"))
    if not (folder / "node_modules" / "node-opcua").is_dir():
        npm = require_executable("npm", "npm")
        folder.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "node-opcua@2"], cwd=folder, capture_output=True, timeout=300
        )
        if result.returncode != 0:
            missing("node-opcua", f"npm install failed in {folder}: {result.stderr.decode()[-300:]}")
    return folder / "node_modules"


@dataclass
class VendorPlant:
    """A running node-opcua plant server."""

    port: int
    control_port: int
    process: subprocess.Popen[str] | None = None
    restarts: int = 0
    _node: str = field(default="node")

    @property
    def url(self) -> str:
        return f"opc.tcp://127.0.0.1:{self.port}/vendor"

    @classmethod
    def start(cls, *, level_l: float = 100.0) -> VendorPlant:
        plant = cls(free_port(), free_port(), _node=require_executable("node", "nodejs"))
        plant._launch(level_l, 3000.0)
        return plant

    def _launch(self, level_l: float, source_l: float) -> None:
        env = os.environ | {"NODE_PATH": str(node_modules())}
        args = [self._node, str(SERVER), str(self.port), str(self.control_port), str(level_l), str(source_l)]
        for _attempt in range(20):  # the port of a killed server may linger for a moment
            process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            assert process.stdout is not None
            line = ""
            for _ in range(50):  # node-opcua may log before it is ready
                line = process.stdout.readline()
                if line.startswith("ready") or not line:
                    break
            if line.startswith("ready"):
                self.process = process
                return
            process.kill()
            process.wait(timeout=10)
            process.stdout.close()
            time.sleep(0.25)
        raise RuntimeError(f"node-opcua server did not start on port {self.port}")

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.control_port}{path}", data=data, method=method)
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - fixed http://127.0.0.1 URL
            result: dict[str, Any] = json.loads(response.read())
            return result

    def state(self) -> dict[str, Any]:
        return self.control("GET", "/state")

    def set(self, **values: Any) -> dict[str, Any]:
        return self.control("POST", "/set", values)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.process = None

    def restart(self) -> None:
        """A PLC restart: the process dies and comes back on the same port; the totalizer is 0 again."""
        state = self.state()
        self.kill()
        self.restarts += 1
        self._launch(float(state["level_l"]), float(state["source_l"]))

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.process = None

    def __enter__(self) -> VendorPlant:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def vendor_plant_config(url: str, *, shared_command: bool = False, **dosing: Any) -> dict[str, Any]:
    """A plant file for the vendor server: level in % mapped to L, flow in L/s, its own node ids."""

    def tag(node: str, **extra: Any) -> dict[str, Any]:
        return {"endpoint": "vendor", "node": f"ns=1;s={node}", **extra}

    valve_node = "Transfer.Command" if shared_command else "Reactor.InletValve"
    pump_node = "Transfer.Command" if shared_command else "Transfer.Pump"
    tags = {
        "level": tag("Reactor.LevelPct", unit="L", raw_range=[0, 100], range=[0, 2000], decimals=2),
        "inlet_valve": tag(valve_node, type="bool", writable=True, safe_state=False),
        "inlet_valve_open": tag("Reactor.InletValveOpen", type="bool"),
        "pump": tag(pump_node, type="bool", writable=True, safe_state=False),
        "pump_running": tag("Transfer.PumpRunning", type="bool"),
        "flow": tag("Transfer.Flow", unit="L/s", range=[0, 10], decimals=3),
        "totalizer": tag("Transfer.Totalizer", unit="L", decimals=3),
    }
    return {
        "version": 1,
        "area": "Vendor",
        "endpoints": {"vendor": {"type": "opcua", "url": url, "publishing_interval_ms": 50}},
        "equipment": {
            "T-100": {"kind": "tank", "tags": {"level": tag("Source.Level", unit="L", decimals=2)}},
            "R-101": {"kind": "unit", "tags": tags},
        },
        "dosing": {
            "R-101": {
                "level": "R-101.level",
                "totalizer": "R-101.totalizer",
                "flow": "R-101.flow",
                "inlet_valve": "R-101.inlet_valve",
                "inlet_valve_feedback": "R-101.inlet_valve_open",
                "pump": "R-101.pump",
                "pump_feedback": "R-101.pump_running",
                "source_levels": {"T-100": "T-100.level"},
                "level_permissive_max": 1600,
                "level_high_high": 1800,
                "source_reserve": 50,
                "valve_follow_ms": 1500,
                "stale_ms": 3000,
                "flow_without_command": 0.05,
                "valve_travel_ms": 200,
            }
            | dosing
        },
    }


def write_vendor_config(path: Path, url: str, **options: Any) -> Path:
    path.write_text(yaml.safe_dump(vendor_plant_config(url, **options), sort_keys=False), encoding="utf-8")
    return path
