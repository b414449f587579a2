"""All of a plant's drivers behind one tag namespace, with a cache of the latest values.

The runtime reads permissives from :attr:`PlantIO.latest` (no round trip) and
commands through :meth:`PlantIO.write`, which routes a tag to its endpoint's driver.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from equipment.config import PlantConfig
from equipment.drivers.base import ConnectionListener, EquipmentDriver, Quality, TagValue, Value, ValueCallback
from equipment.errors import DriverError, PlantConfigError


class PlantIO:
    """Routes tags to drivers; keeps :attr:`latest` and the connection state of each endpoint."""

    def __init__(self, drivers: Mapping[str, EquipmentDriver], routes: Mapping[str, str]) -> None:
        self.drivers = dict(drivers)
        self.routes = dict(routes)
        self.latest: dict[str, TagValue] = {}
        self.connected: dict[str, bool] = dict.fromkeys(self.drivers, False)
        self._listeners: list[ConnectionListener] = []
        for driver in self.drivers.values():
            driver.add_connection_listener(self._on_connection)

    def driver_for(self, tag: str) -> EquipmentDriver:
        try:
            return self.drivers[self.routes[tag]]
        except KeyError:
            raise DriverError(f"tag {tag!r} is not in the plant configuration") from None

    def endpoint_of(self, tag: str) -> str:
        return self.routes.get(tag, "")

    def age(self, tag: str, now: float | None = None) -> float:
        """Seconds since ``tag``'s value was last confirmed current: its own arrival or its endpoint's last answer.

        OPC UA publishes on change only, so a steady value stays current while its endpoint answers.
        """
        item = self.latest.get(tag)
        if item is None:
            return float("inf")
        now = time.monotonic() if now is None else now
        endpoint = self.routes.get(tag, "")
        if not self.connected.get(endpoint, False):
            return now - item.received
        alive = getattr(self.drivers.get(endpoint), "last_alive", 0.0)
        return now - max(item.received, alive)

    async def connect(self) -> dict[str, str]:
        """Connect every driver; return the endpoints that failed with their reason."""
        failed: dict[str, str] = {}
        for name, driver in self.drivers.items():
            try:
                await driver.connect()
                self.connected[name] = driver.connected
            except DriverError as exc:
                failed[name] = str(exc)
        return failed

    async def read(self, tags: Sequence[str]) -> dict[str, TagValue]:
        result: dict[str, TagValue] = {}
        for name, driver in self.drivers.items():
            mine = [t for t in tags if self.routes.get(t) == name]
            if not mine:
                continue
            try:
                result.update(await driver.read(mine))
            except DriverError as exc:
                result.update({t: TagValue(t, None, Quality.BAD, f"BadCommunicationError: {exc}") for t in mine})
        return result

    async def write(self, tag: str, value: Value) -> None:
        await self.driver_for(tag).write(tag, value)

    async def subscribe(
        self, tags: Sequence[str], callback: ValueCallback | None = None, *, interval_ms: float | None = None
    ) -> None:
        """Subscribe ``tags``; every value updates :attr:`latest` before ``callback`` runs."""

        def on_value(item: TagValue) -> None:
            self.latest[item.tag] = item
            if callback is not None:
                callback(item)

        for name, driver in self.drivers.items():
            mine = [t for t in tags if self.routes.get(t) == name]
            if mine:
                await driver.subscribe(mine, on_value, interval_ms=interval_ms)

    def add_connection_listener(self, listener: ConnectionListener) -> None:
        self._listeners.append(listener)

    def _on_connection(self, endpoint: str, connected: bool, reason: str) -> None:
        self.connected[endpoint] = connected
        for listener in list(self._listeners):
            listener(endpoint, connected, reason)

    async def close(self) -> None:
        for driver in self.drivers.values():
            await driver.close()


def build_plant_io(config: PlantConfig) -> PlantIO:
    """Drivers for every endpoint of ``config`` (OPC UA or Modbus), routed by tag."""
    from equipment.drivers.modbus import ModbusDriver
    from equipment.drivers.opcua import OpcUaDriver

    drivers: dict[str, EquipmentDriver] = {}
    for name, endpoint in config.endpoints.items():
        tags = config.tags_of(name)
        if endpoint.type == "opcua":
            drivers[name] = OpcUaDriver(endpoint, tags)
        elif endpoint.type == "modbus":
            drivers[name] = ModbusDriver(endpoint, tags)
        else:
            raise PlantConfigError(f"endpoints.{name}.type: unknown driver {endpoint.type!r}")
    return PlantIO(drivers, {tag.name: tag.endpoint for tag in config.tags.values()})
