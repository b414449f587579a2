"""Interlock reaction: level crossing high-high → valve-close write arriving at the server.

Against the real simulator (a separate process, OPC UA over loopback), each trip
is measured from the server timestamp of the first published level at or above
high-high to the arrival time of the inlet-valve close write, both on the
simulator's clock. Measured: the runtime's own fast path (``PlantIO`` + OPC UA
driver + ``DosingPhase`` with its permissives, trip rules and safe-state writes).
Baseline, same run, same server: a bare asyncua client doing the minimal
subscribe → compare → write. Goal: ratio of medians ≤ 1.5.

    python -m benchmarks.interlock_reaction [TRIPS]      (default 200 each)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from asyncua import ua
from asyncua.client.client import Client
from sqlalchemy.orm import sessionmaker

from audit.trail import AuditTrail
from benchmarks.table import Row, median, percentile, print_table
from ebr.clock import SystemClock
from equipment.commands import PhaseStatus
from equipment.config import PlantConfig, load_plant_config
from equipment.dosing import DosingPhase
from equipment.drivers.plantio import build_plant_io
from equipment.runtime import EquipmentRuntime
from equipment.simulator.launch import SimulatorHandle, start_simulator
from equipment.subscriptions import subscribe_plant

HIGH_HIGH = 1800.0
START_LEVEL = 1500.0
NEAR_LEVEL = 1797.0  # a couple of physics steps below high-high


def _close_write_after(sim: SimulatorHandle, since: float) -> float:
    for write in sim.writes():
        if write["tag"] == "R-101.inlet_valve" and write["value"] is False and write["at"] >= since:
            return float(write["at"])
    raise RuntimeError("no valve-close write reached the simulator")


async def _until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.002)


def _value(io: Any, tag: str) -> Any:
    item = io.latest.get(tag)
    return None if item is None else item.value


async def runtime_trips(sim: SimulatorHandle, config: PlantConfig, count: int) -> list[float]:
    """Latencies (ms) of the runtime's interlock path: its own value dispatch, phase and writes."""
    io = build_plant_io(config)
    crossings: list[dt.datetime] = []
    # The runtime's dispatch (phases, readings, trend, idle-flow watch); its database loops are not started.
    runtime = EquipmentRuntime(config=config, factory=sessionmaker(), audit=AuditTrail(), clock=SystemClock(), io=io)

    def on_value(item: Any) -> None:
        runtime._on_value(item)
        if item.tag == "R-101.level" and item.value is not None and item.value >= HIGH_HIGH:
            crossings.append(item.server_ts)

    await subscribe_plant(io, config, on_value)
    await io.connect()
    await _until(lambda: all(tag in io.latest for tag in config.tags))
    cfg = config.dosing["R-101"]
    latencies = []
    try:
        for i in range(count):
            sim.set(**{"R-101.level": START_LEVEL})
            await _until(
                lambda: _value(io, "R-101.level") == START_LEVEL and _value(io, cfg.inlet_valve_feedback) is False
            )
            phase = DosingPhase(
                io=io,
                cfg=cfg,
                phase_ref=f"bench-{i}",
                source="T-100",
                target=Decimal(250),
                tolerance=Decimal(1),
                quantity_unit="L",
                requires_agitator=False,
                report=lambda report: None,
            )
            runtime.phases = {phase.phase_ref: phase}
            await phase.start()
            crossings.clear()
            started = time.time()
            sim.set(**{"R-101.level": NEAR_LEVEL})
            await _until(lambda p=phase: p.state is PhaseStatus.HELD and not p._tasks)  # type: ignore[misc]
            closed_at = _close_write_after(sim, started)
            latencies.append((closed_at - crossings[0].timestamp()) * 1000)
            sim.control("POST", "/writes/clear", {})
    finally:
        await io.close()
    return latencies


async def bare_trips(sim: SimulatorHandle, count: int) -> list[float]:
    """Latencies (ms) of a bare asyncua client: subscribe → compare → write."""
    client = Client(sim.opcua_url)
    await client.connect()
    level = client.get_node("ns=2;s=R-101.level")
    valve = client.get_node("ns=2;s=R-101.inlet_valve")
    pump = client.get_node("ns=2;s=R-101.pump")
    armed = asyncio.Event()
    crossings: list[dt.datetime] = []
    done = asyncio.Event()
    pending: set[asyncio.Task[Any]] = set()

    class Handler:
        def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
            if armed.is_set() and val >= HIGH_HIGH:
                armed.clear()
                crossings.append(data.monitored_item.Value.ServerTimestamp)
                task = asyncio.ensure_future(self._close())
                pending.add(task)
                task.add_done_callback(pending.discard)

        async def _close(self) -> None:
            await valve.write_value(ua.DataValue(ua.Variant(False, ua.VariantType.Boolean)))
            done.set()

    sub = await client.create_subscription(0, Handler())
    await sub.subscribe_data_change(level)
    latencies = []
    try:
        for _ in range(count):
            sim.set(**{"R-101.level": START_LEVEL})
            await asyncio.sleep(0.03)
            await valve.write_value(ua.DataValue(ua.Variant(True, ua.VariantType.Boolean)))
            await pump.write_value(ua.DataValue(ua.Variant(True, ua.VariantType.Boolean)))
            crossings.clear()
            done.clear()
            armed.set()
            started = time.time()
            sim.set(**{"R-101.level": NEAR_LEVEL})
            await asyncio.wait_for(done.wait(), timeout=5)
            closed_at = _close_write_after(sim, started)
            stamp = crossings[0]
            stamp = stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)
            latencies.append((closed_at - stamp.timestamp()) * 1000)
            sim.control("POST", "/writes/clear", {})
    finally:
        await pump.write_value(ua.DataValue(ua.Variant(False, ua.VariantType.Boolean)))
        await client.disconnect()
    return latencies


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    count = int(args[0]) if args else 200
    logging.getLogger("asyncua").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp, start_simulator(Path(tmp), rate_hz=50.0) as sim:
        sim.set(valve_travel_s=0.0)
        config = load_plant_config(sim.config_path)
        ours = asyncio.run(runtime_trips(sim, config, count))
        sim.set(**{"R-101.inlet_valve": False, "R-101.pump": False})
        bare = asyncio.run(bare_trips(sim, count))
    rows = [
        Row(f"interlock reaction median ({count} trips)", median(ours), median(bare), "ms", "ratio ≤ 1.5"),
        Row(f"interlock reaction p99 ({count} trips)", percentile(ours, 99), percentile(bare, 99), "ms"),
        Row("interlock reaction max", max(ours), max(bare), "ms"),
    ]
    print_table(
        "Interlock reaction: level ≥ high-high → valve-close write at the server", rows, baseline_name="bare asyncua"
    )


if __name__ == "__main__":
    main()
