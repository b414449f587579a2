"""A tiny HTTP control endpoint of the simulator (stdlib asyncio, JSON in and out).

``GET /state``; ``POST /scale {"weight": 12.5}`` (kg, 0 removes it);
``POST /fault {"name": "valve_stuck"|"sensor_frozen"|"leak"|"drop_connection", "on": true,
"rate": 2.0, "seconds": 3}``; ``POST /set {"R-101.level": 1500}``; ``GET /writes``
(client writes with their arrival time); ``POST /writes/clear``. For tests and
training on one machine: it listens on localhost only by default and has no auth.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from equipment.simulator.server import Simulator


class ControlError(Exception):
    """A bad control request (answered with 400)."""


async def _fault(sim: Simulator, body: dict[str, Any]) -> dict[str, Any]:
    name, on = body.get("name"), bool(body.get("on", True))
    faults = sim.plant.faults
    if name == "valve_stuck":
        faults.valve_stuck = on
    elif name == "sensor_frozen":
        faults.sensor_frozen = on
    elif name == "sensor_bad":
        faults.sensor_bad = on
    elif name == "leak":
        faults.leak_lps = float(body.get("rate", 2.0)) if on else 0.0
    elif name == "watchdog_frozen":
        sim.plant.heat.watchdog_frozen = on
    elif name == "drop_connection":
        await sim.drop_connections(float(body.get("seconds", 3.0)))
    else:
        raise ControlError(
            f"unknown fault {name!r}: valve_stuck, sensor_frozen, sensor_bad, leak, watchdog_frozen, drop_connection"
        )
    return {"faults": vars(faults), "watchdog_frozen": sim.plant.heat.watchdog_frozen}


async def handle(sim: Simulator, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Answer one control request."""
    plant = sim.plant
    if (method, path) == ("GET", "/state"):
        return plant.outputs() | {"SC-01.weight": plant.scale_kg, "SC-01.stable": plant.scale_stable}
    if (method, path) == ("POST", "/scale"):
        try:
            plant.place_weight(float(body.get("weight", 0.0)))
        except ValueError as exc:
            raise ControlError(str(exc)) from exc
        return {"SC-01.weight": plant.scale_kg}
    if (method, path) == ("POST", "/fault"):
        return await _fault(sim, body)
    if (method, path) == ("POST", "/set"):
        try:
            plant.set_state(body)
        except (ValueError, TypeError) as exc:
            raise ControlError(str(exc)) from exc
        return plant.outputs()
    if (method, path) == ("GET", "/writes"):
        return {"writes": [vars(w) for w in sim.writes]}
    if (method, path) == ("POST", "/writes/clear"):
        sim.writes.clear()
        return {"writes": []}
    raise ControlError(f"no such control: {method} {path}")


async def _serve(sim: Simulator, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        request = (await reader.readline()).decode("latin-1").split()
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        raw = await reader.readexactly(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
            result, status = await handle(sim, request[0], request[1].split("?")[0], body), "200 OK"
        except (ControlError, json.JSONDecodeError, IndexError) as exc:
            result, status = {"error": str(exc)}, "400 Bad Request"
        payload = json.dumps(result).encode()
        head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        writer.write(head.encode() + b"Connection: close\r\n\r\n" + payload)
        await writer.drain()
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def start_control(sim: Simulator, host: str, port: int) -> asyncio.Server:
    """Listen for control requests on ``host:port``."""
    return await asyncio.start_server(lambda r, w: _serve(sim, r, w), host, port)
