"""The OPC UA driver against another vendor's server stack (node-opcua), configured only by the file."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from equipment.config import parse_plant_config
from equipment.drivers.base import TagValue
from equipment.drivers.plantio import build_plant_io
from tests.support.components import require_executable
from tests.support.plant import free_port
from tests.support.vendor import node_modules

SERVER = Path(__file__).resolve().parents[3] / "tests" / "support" / "node_opcua_server.js"


@pytest.fixture
def vendor_server() -> Iterator[str]:
    node = require_executable("node", "nodejs")
    port = free_port()
    env = os.environ | {"NODE_PATH": str(node_modules())}
    process = subprocess.Popen([node, str(SERVER), str(port)], env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = ""
    for _ in range(50):  # node-opcua may log before it is ready
        line = process.stdout.readline()
        if line.startswith("ready") or not line:
            break
    try:
        assert line.startswith("ready"), f"node-opcua server did not start: {line!r}"
        yield f"opc.tcp://127.0.0.1:{port}/vendor"
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


@pytest.mark.requirement("URS-EQP-002")
def test_the_driver_reads_writes_and_subscribes_on_a_node_opcua_server(vendor_server: str) -> None:
    config = parse_plant_config(
        {
            "version": 1,
            "endpoints": {"vendor": {"type": "opcua", "url": vendor_server, "publishing_interval_ms": 0}},
            "equipment": {
                "R-101": {
                    "kind": "unit",
                    "tags": {
                        "level": {"endpoint": "vendor", "node": "ns=1;s=Reactor.Level", "unit": "L"},
                        "inlet_valve": {
                            "endpoint": "vendor",
                            "node": "ns=1;s=Reactor.InletValve",
                            "type": "bool",
                            "writable": True,
                        },
                        "pump": {
                            "endpoint": "vendor",
                            "node": "ns=1;s=Transfer.Pump",
                            "type": "bool",
                            "writable": True,
                        },
                    },
                }
            },
        }
    )
    seen: list[TagValue] = []

    async def scenario() -> dict[str, TagValue]:
        io = build_plant_io(config)
        await io.subscribe(["R-101.level"], seen.append)
        try:
            assert await io.connect() == {}
            first = await io.read(["R-101.level", "R-101.inlet_valve"])
            await io.write("R-101.inlet_valve", True)
            await io.write("R-101.pump", True)
            for _ in range(100):  # node-opcua grants its own (slower) intervals
                if seen and seen[-1].number() > first["R-101.level"].number():
                    break
                await asyncio.sleep(0.1)
            await io.write("R-101.inlet_valve", False)
            await io.write("R-101.pump", False)
            return first
        finally:
            await io.close()

    first = asyncio.run(scenario())
    assert first["R-101.level"].good
    assert first["R-101.level"].source_ts is not None
    assert first["R-101.inlet_valve"].value is False
    assert seen
    assert seen[-1].number() > first["R-101.level"].number(), "the level rose after the valve write"
