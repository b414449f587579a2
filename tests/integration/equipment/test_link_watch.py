"""The link watch through the fault-injecting proxy: tolerant of a slow moment, quick on a real cut.

And the plant check and the drivers on a foreign server whose tags share a node and need scaling.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from equipment.check import check_plant
from equipment.config import load_plant_config
from equipment.drivers.plantio import PlantIO, build_plant_io
from tests.support.faultproxy import FaultProxy
from tests.support.plant import start_simulator
from tests.support.vendor import VendorPlant, write_vendor_config


@contextlib.contextmanager
def _simulator_behind_the_proxy(tmp_path: Path) -> Iterator[tuple[FaultProxy, Path]]:
    """The plant simulator reached through the fault proxy: the proxy and the proxied configuration."""
    with start_simulator(tmp_path) as sim, FaultProxy(("127.0.0.1", urlparse(sim.opcua_url).port or 0)) as proxy:
        proxied = tmp_path / "proxied.yaml"
        url = f"opc.tcp://127.0.0.1:{proxy.port}{urlparse(sim.opcua_url).path}"
        proxied.write_text(sim.config_path.read_text(encoding="utf-8").replace(sim.opcua_url, url), encoding="utf-8")
        yield proxy, proxied


@contextlib.asynccontextmanager
async def _connected(proxy: FaultProxy, config_path: Path) -> AsyncIterator[tuple[PlantIO, list[tuple[bool, float]]]]:
    """The runtime's I/O connected through the proxy, and every change of its link (up, when) as it comes."""
    io = build_plant_io(load_plant_config(config_path))
    seen: list[tuple[bool, float]] = []
    io.add_connection_listener(lambda name, up, reason: seen.append((up, time.monotonic())))
    assert await io.connect() == {}
    try:
        yield io, seen
    finally:
        await asyncio.to_thread(proxy.restore)
        await io.close()


async def _cut_until_lost(proxy: FaultProxy, seen: list[tuple[bool, float]]) -> float:
    """Cut the link (no FIN, no RST); the seconds until the loss is announced (inf: not within 5 s)."""
    cut_at = time.monotonic()
    await asyncio.to_thread(proxy.cut)
    while not any(not up for up, _ in seen) and time.monotonic() < cut_at + 5:
        await asyncio.sleep(0.01)
    return next((at for up, at in seen if not up), float("inf")) - cut_at


async def _watch(proxy: FaultProxy, config_path: Path) -> tuple[float, float]:
    """Stall 600 ms (two probes late), then slow bytes, then cut: when is the loss announced?"""
    async with _connected(proxy, config_path) as (_io, seen):
        await asyncio.sleep(0.5)
        await asyncio.to_thread(proxy.stall)
        await asyncio.sleep(0.6)
        await asyncio.to_thread(proxy.restore)
        await asyncio.to_thread(proxy.slow, 20_000)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(proxy.restore)
        tolerated = len([s for s in seen if not s[0]])
        return float(tolerated), await _cut_until_lost(proxy, seen)


@pytest.mark.requirement("URS-EQP-014")
def test_a_600_ms_stall_and_slow_bytes_are_tolerated_and_a_cut_is_found_within_a_second(tmp_path: Path) -> None:
    with _simulator_behind_the_proxy(tmp_path) as (proxy, proxied):
        tolerated, lost = asyncio.run(_watch(proxy, proxied))
    assert tolerated == 0, "a 600 ms stall (fewer than 3 probes of 250 ms missed) is not a lost link"
    assert lost < 1.5, f"a cut link was found after {lost:.2f} s (3 × 250 ms probes)"


async def _lose_the_link(proxy: FaultProxy, config_path: Path) -> tuple[float, bool, int]:
    """Cut the link and keep it cut: is the lost client's socket closed meanwhile?"""
    async with _connected(proxy, config_path) as (io, seen):
        driver = next(iter(io.drivers.values()))
        transport = driver._client.uaclient.protocol.transport  # type: ignore[attr-defined]
        lost = await _cut_until_lost(proxy, seen)
        await asyncio.sleep(1.5)  # the goodbye gets no answer within its second
        return lost, transport.is_closing(), transport.get_extra_info("socket").fileno()


@pytest.mark.requirement("URS-EQP-014")
def test_the_socket_of_a_link_lost_to_a_cut_is_closed_while_the_cut_lasts(tmp_path: Path) -> None:
    """A cut link never answers the client's goodbye; its socket is closed all the same, not left to the GC."""
    with _simulator_behind_the_proxy(tmp_path) as (proxy, proxied):
        lost, closing, descriptor = asyncio.run(_lose_the_link(proxy, proxied))
    assert lost < 5, "the cut was not found"
    assert closing, "the lost client's transport was left open"
    assert descriptor == -1, "the lost client's socket descriptor is still open"


@pytest.mark.requirement("URS-EQP-013")
def test_the_plant_check_reads_every_tag_of_a_node_shared_by_two_tags_scaled(tmp_path: Path) -> None:
    with VendorPlant.start(level_l=500.0) as vendor:
        path = write_vendor_config(tmp_path / "shared.yaml", vendor.url, shared_command=True)
        results = asyncio.run(check_plant(load_plant_config(path)))
    by_tag = {r.tag: r for r in results}
    assert all(r.ok for r in results), [(r.tag, r.problem) for r in results if not r.ok]
    assert by_tag["R-101.pump"].value is not None
    assert by_tag["R-101.inlet_valve"].value is not None
    level = by_tag["R-101.level"].value
    assert level is not None
    assert level.number() == pytest.approx(500.0, abs=0.01), "25 % of 2000 L, mapped by raw_range"
