"""Interlock reaction: level crossing high-high → valve-close write arriving at the server.

Two servers, each reached through the fault-injecting TCP proxy with 0 ms added delay
(the path the fault tests use): our simulator (asyncua, publishing on every change) and
a foreign one (node-opcua: its own node ids, level in %, a 50 ms minimum publishing
interval). Each trip is measured on the server's clock, from the source timestamp of the
first published level at or above high-high to the arrival of the inlet-valve close
write. Measured: the runtime's own fast path (``PlantIO`` + OPC UA driver with scaling +
``EquipmentRuntime`` dispatch + ``DosingPhase`` with its permissives, trip rules and
safe-state writes). Baseline, same run, same server, same proxy: a bare asyncua client
doing the minimal subscribe → compare → write. Goals: median ratio ≤ 1.3, p99 ratio ≤ 1.5.

    python -m benchmarks.interlock_reaction [TRIPS]      (default 200 each)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml
from asyncua import ua
from asyncua.client.client import Client
from sqlalchemy.orm import sessionmaker

from audit.trail import AuditTrail
from benchmarks.table import Row, median, percentile, print_table
from ebr.core.clock import SystemClock
from equipment.commands import PhaseStatus
from equipment.config import load_plant_config
from equipment.dosing import DosingPhase
from equipment.drivers.plantio import build_plant_io
from equipment.runtime import EquipmentRuntime
from equipment.simulator.launch import SimulatorHandle, start_simulator
from equipment.subscriptions import subscribe_plant
from tests.support.faultproxy import FaultProxy
from tests.support.vendor import VendorPlant, write_vendor_config

HIGH_HIGH = 1800.0
START_LEVEL = 1500.0


@dataclass
class Target:
    """One server under test, as both clients see it through the proxy."""

    name: str
    url: str
    config_path: Path
    level_node: str
    valve_node: str
    pump_node: str
    high_high_raw: float  # high-high in the node's own unit (L or %)
    set_level: Callable[[float], None]
    near_level: float  # set to cross high-high (directly, or by the flow within a step)
    writes: Callable[[], list[dict[str, Any]]]
    clear_writes: Callable[[], None]
    valve_tag: str  # how the server names the valve in its write log


def _close_write_after(target: Target, since: float) -> float:
    for write in target.writes():
        if write["tag"] == target.valve_tag and write["value"] is False and write["at"] >= since:
            return float(write["at"])
    raise RuntimeError(f"no valve-close write reached {target.name}")


async def _until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.002)


def _value(io: Any, tag: str) -> Any:
    item = io.latest.get(tag)
    return None if item is None else item.value


def _stamp(moment: dt.datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


class _NoRecorder:
    """The benchmark measures the fast path; nothing is recorded."""

    def record(self, *_: Any, **__: Any) -> None: ...

    def alarm(self, *_: Any, **__: Any) -> None: ...

    def log_event(self, *_: Any, **__: Any) -> None: ...


async def runtime_trips(target: Target, count: int) -> list[float]:
    """Latencies (ms) of the runtime's interlock path: its own value dispatch, phase and writes."""
    config = load_plant_config(target.config_path)
    io = build_plant_io(config)
    crossings: list[dt.datetime] = []
    # The runtime's dispatch (phases, readings, trend, idle watch); its database loops are not started.
    runtime = EquipmentRuntime(config=config, factory=sessionmaker(), audit=AuditTrail(), clock=SystemClock(), io=io)
    runtime.recorder = _NoRecorder()  # type: ignore[assignment]

    def on_value(item: Any) -> None:
        runtime._on_value(item)
        if item.tag == "R-101.level" and item.value is not None and item.value >= HIGH_HIGH:
            crossings.append(item.source_ts or item.server_ts)

    await subscribe_plant(io, config, on_value)
    await io.connect()
    await _until(lambda: all(tag in io.latest for tag in config.tags))
    cfg = config.dosing["R-101"]
    latencies = []
    try:
        for i in range(count):
            await _until(lambda: _value(io, cfg.inlet_valve_feedback) is False and not _value(io, cfg.flow))
            target.set_level(START_LEVEL)
            await _until(lambda: abs(_value(io, "R-101.level") - START_LEVEL) < 0.01)
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
            target.set_level(target.near_level)
            try:
                await _until(lambda p=phase: p.state is PhaseStatus.HELD and not p._tasks)  # type: ignore[misc]
            except TimeoutError:
                level = _value(io, "R-101.level")
                raise RuntimeError(
                    f"{target.name} trip {i}: phase {phase.state.value} (trip {phase.trip}), "
                    f"tasks {phase._tasks}, level {level}"
                ) from None
            closed_at = _close_write_after(target, started)
            latencies.append((closed_at - _stamp(crossings[0])) * 1000)
            target.clear_writes()
    finally:
        await io.close()
    return latencies


async def bare_trips(target: Target, count: int) -> list[float]:
    """Latencies (ms) of a bare asyncua client: subscribe → compare → write."""
    client = Client(target.url)
    await client.connect()
    level = client.get_node(target.level_node)
    valve = client.get_node(target.valve_node)
    pump = client.get_node(target.pump_node)
    armed = asyncio.Event()
    crossings: list[dt.datetime] = []
    done = asyncio.Event()
    pending: set[asyncio.Task[Any]] = set()

    class Handler:
        def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
            if armed.is_set() and val >= target.high_high_raw:
                armed.clear()
                value = data.monitored_item.Value
                crossings.append(value.SourceTimestamp or value.ServerTimestamp)
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
            target.set_level(START_LEVEL)
            await asyncio.sleep(0.06)
            await valve.write_value(ua.DataValue(ua.Variant(True, ua.VariantType.Boolean)))
            await pump.write_value(ua.DataValue(ua.Variant(True, ua.VariantType.Boolean)))
            crossings.clear()
            done.clear()
            armed.set()
            started = time.time()
            target.set_level(target.near_level)
            await asyncio.wait_for(done.wait(), timeout=5)
            closed_at = _close_write_after(target, started)
            latencies.append((closed_at - _stamp(crossings[0])) * 1000)
            target.clear_writes()
    finally:
        await pump.write_value(ua.DataValue(ua.Variant(False, ua.VariantType.Boolean)))
        await client.disconnect()
    return latencies


def _proxied(url: str, proxy: FaultProxy) -> str:
    parsed = urlparse(url)
    return f"opc.tcp://127.0.0.1:{proxy.port}{parsed.path}"


@contextmanager
def simulator_target(folder: Path) -> Iterator[Target]:
    with start_simulator(folder, rate_hz=50.0) as sim:
        sim.set(valve_travel_s=0.0)
        with FaultProxy(("127.0.0.1", urlparse(sim.opcua_url).port or 0)) as proxy:
            yield _simulator(sim, proxy, folder)


def _simulator(sim: SimulatorHandle, proxy: FaultProxy, folder: Path) -> Target:
    data = yaml.safe_load(sim.config_path.read_text(encoding="utf-8"))
    data["endpoints"]["plant"]["url"] = _proxied(sim.opcua_url, proxy)
    config_path = folder / "proxied.yaml"
    config_path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return Target(
        name="simulator",
        url=_proxied(sim.opcua_url, proxy),
        config_path=config_path,
        level_node="ns=2;s=R-101.level",
        valve_node="ns=2;s=R-101.inlet_valve",
        pump_node="ns=2;s=R-101.pump",
        high_high_raw=HIGH_HIGH,
        set_level=lambda litres: sim.set(**{"R-101.level": litres}),
        near_level=1797.0,  # a couple of physics steps below high-high: the flow crosses it
        writes=sim.writes,
        clear_writes=lambda: sim.control("POST", "/writes/clear", {}),
        valve_tag="R-101.inlet_valve",
    )


@contextmanager
def vendor_target(folder: Path) -> Iterator[Target]:
    with VendorPlant.start() as plant, FaultProxy(("127.0.0.1", plant.port)) as proxy:
        url = _proxied(plant.url, proxy)
        yield Target(
            name="node-opcua",
            url=url,
            config_path=write_vendor_config(folder / "vendor.yaml", url),
            level_node="ns=1;s=Reactor.LevelPct",
            valve_node="ns=1;s=Reactor.InletValve",
            pump_node="ns=1;s=Transfer.Pump",
            high_high_raw=HIGH_HIGH / 2000 * 100,
            set_level=lambda litres: plant.set(level_l=litres),
            near_level=HIGH_HIGH + 0.5,  # set across: the next 20 ms step publishes it
            writes=lambda: plant.control("GET", "/writes")["writes"],
            clear_writes=lambda: plant.control("POST", "/writes"),
            valve_tag="Reactor.InletValve",
        )


def _rows(name: str, ours: list[float], bare: list[float], count: int) -> list[Row]:
    return [
        Row(f"{name}: median ({count} trips)", median(ours), median(bare), "ms", "ratio ≤ 1.3"),
        Row(f"{name}: p99 ({count} trips)", percentile(ours, 99), percentile(bare, 99), "ms", "ratio ≤ 1.5"),
        Row(f"{name}: max", max(ours), max(bare), "ms"),
    ]


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    count = int(args[0]) if args else 200
    logging.getLogger("asyncua").setLevel(logging.ERROR)
    rows: list[Row] = []
    for make in (simulator_target, vendor_target):
        with tempfile.TemporaryDirectory() as tmp, make(Path(tmp)) as target:
            ours = asyncio.run(runtime_trips(target, count))
            bare = asyncio.run(bare_trips(target, count))
            rows += _rows(target.name, ours, bare, count)
    print_table(
        "Interlock reaction: level ≥ high-high → valve-close write at the server (through the proxy, 0 ms added)",
        rows,
        baseline_name="bare asyncua",
    )


if __name__ == "__main__":
    main()
