"""``ebr plant check``: connect to every endpoint and try to read every tag."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from equipment.config import PlantConfig
from equipment.drivers.base import TagValue
from equipment.drivers.plantio import build_plant_io


@dataclass(frozen=True)
class TagCheck:
    """The outcome for one tag: readable with its value, or the reason it is not."""

    tag: str
    endpoint: str
    ok: bool
    value: TagValue | None
    problem: str


async def check_plant(config: PlantConfig, *, timeout: float = 10.0) -> list[TagCheck]:
    """Read every configured tag once; never raises for an unreachable endpoint."""
    io = build_plant_io(config)
    try:
        failed = await asyncio.wait_for(io.connect(), timeout=timeout)
        reachable = [t for t in config.tags if config.tags[t].endpoint not in failed]
        values = await asyncio.wait_for(io.read(reachable), timeout=timeout) if reachable else {}
    finally:
        await io.close()
    results = []
    for name, spec in config.tags.items():
        if spec.endpoint in failed:
            results.append(TagCheck(name, spec.endpoint, False, None, failed[spec.endpoint]))
            continue
        item = values.get(name)
        if item is None or not item.good:
            reason = "no answer" if item is None else item.status
            results.append(TagCheck(name, spec.endpoint, False, item, reason))
        else:
            results.append(TagCheck(name, spec.endpoint, True, item, ""))
    return results
