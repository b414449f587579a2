"""Modbus TCP driver on pymodbus: polled registers, decoded with byte/word order and scale.

Modbus has no subscriptions, so the driver polls every ``poll_ms`` (one request per
contiguous register block) and calls subscribers when a value or its quality
changes. A failed poll marks the connection lost and retries with exponential
backoff. pymodbus ≥ 3.10 names the unit ``device_id=``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from ebr.core.clock import utc_now
from equipment.config import Endpoint, ModbusAddress, TagSpec
from equipment.drivers.base import ConnectionListener, Quality, TagValue, Value, ValueCallback
from equipment.drivers.codec import decode, encode
from equipment.errors import CommunicationLost, DriverError

log = logging.getLogger(__name__)
_FAILURES = (OSError, asyncio.TimeoutError, ModbusException)


class ModbusDriver:
    """A Modbus TCP client for one device of the plant configuration."""

    def __init__(
        self, endpoint: Endpoint, tags: Sequence[TagSpec], *, min_backoff: float = 0.2, max_backoff: float = 1.0
    ) -> None:
        self.name = endpoint.name
        self.endpoint = endpoint
        self.specs = {t.name: t for t in tags if t.modbus is not None}
        self._min_backoff, self._max_backoff = min_backoff, max_backoff
        self._client: AsyncModbusTcpClient | None = None
        self._subscribers: list[tuple[list[str], ValueCallback]] = []
        self._last: dict[str, TagValue] = {}
        self._listeners: list[ConnectionListener] = []
        self._connected = False
        self._poller: asyncio.Task[None] | None = None
        self._closing = False
        self.last_alive = 0.0
        """``time.monotonic()`` of the last successful poll."""

    @property
    def connected(self) -> bool:
        return self._connected

    def add_connection_listener(self, listener: ConnectionListener) -> None:
        self._listeners.append(listener)

    async def connect(self) -> None:
        self._closing = False
        await self._open()
        self._announce(True, "connected")
        if self._poller is None:
            self._poller = asyncio.create_task(self._poll_loop())

    async def _open(self) -> None:
        ep = self.endpoint
        client = AsyncModbusTcpClient(ep.host, port=ep.port, timeout=ep.timeout_s, retries=0, reconnect_delay=0)
        try:
            ok = await client.connect()
        except _FAILURES as exc:
            client.close()
            raise DriverError(f"{self.name}: cannot connect to {ep.host}:{ep.port}: {exc}") from exc
        if not ok:
            client.close()
            raise DriverError(f"{self.name}: cannot connect to Modbus device at {ep.host}:{ep.port}")
        self._client = client

    async def _read_block(self, kind: str, start: int, count: int) -> list[int]:
        client = self._client
        if client is None:
            raise CommunicationLost(f"{self.name}: not connected")
        unit = self.endpoint.device_id
        calls: dict[str, Any] = {
            "holding": client.read_holding_registers,
            "input": client.read_input_registers,
            "coil": client.read_coils,
            "discrete": client.read_discrete_inputs,
        }
        try:
            result = await calls[kind](start, count=count, device_id=unit)
        except _FAILURES as exc:
            raise CommunicationLost(f"{self.name}: read of {kind} {start}+{count} failed: {exc}") from exc
        if result.isError():
            raise DriverError(f"{self.name}: device refused reading {kind} {start}+{count}: {result}")
        if kind in ("coil", "discrete"):
            return [int(bit) for bit in result.bits[:count]]
        return list(result.registers)

    async def read(self, tags: Sequence[str]) -> dict[str, TagValue]:
        """Read ``tags`` with one request per contiguous block of each register kind."""
        specs = [self._spec(t) for t in tags]
        out: dict[str, TagValue] = {}
        for kind in {s.modbus.kind for s in specs if s.modbus}:
            group = [s for s in specs if s.modbus and s.modbus.kind == kind]
            start = min(s.modbus.register for s in group if s.modbus)
            end = max(s.modbus.register + s.modbus.count for s in group if s.modbus)
            registers = await self._read_block(kind, start, end - start)
            now = utc_now()
            for spec in group:
                address = spec.modbus
                assert address is not None
                raw = registers[address.register - start : address.register - start + address.count]
                out[spec.name] = TagValue(spec.name, decode(raw, address), Quality.GOOD, "Good", None, now)
        return out

    async def write(self, tag: str, value: Value) -> None:
        spec = self._spec(tag)
        address: ModbusAddress = spec.modbus  # type: ignore[assignment]
        if not spec.writable:
            raise DriverError(f"{tag} is not writable in the plant configuration")
        client = self._client
        if client is None or not self._connected:
            raise CommunicationLost(f"{self.name}: not connected")
        try:
            if address.kind == "coil":
                result = await client.write_coil(address.register, bool(value), device_id=self.endpoint.device_id)
            else:
                registers = encode(value, address)
                result = await client.write_registers(address.register, registers, device_id=self.endpoint.device_id)
        except _FAILURES as exc:
            raise CommunicationLost(f"{self.name}: write to {tag} failed: {exc}") from exc
        if result.isError():
            raise DriverError(f"{self.name}: device refused writing {value!r} to {tag}: {result}")

    async def subscribe(
        self, tags: Sequence[str], callback: ValueCallback, *, interval_ms: float | None = None
    ) -> None:
        for tag in tags:
            self._spec(tag)
        self._subscribers.append((list(tags), callback))

    def _spec(self, tag: str) -> TagSpec:
        try:
            return self.specs[tag]
        except KeyError:
            raise DriverError(f"{self.name}: tag {tag!r} has no Modbus address on this endpoint") from None

    async def _poll_loop(self) -> None:
        delay = self._min_backoff
        while not self._closing:
            try:
                if not self._connected:
                    await self._open()
                    self._announce(True, "reconnected")
                    delay = self._min_backoff
                await self._poll_once()
                await asyncio.sleep(self.endpoint.poll_ms / 1000)
            except DriverError as exc:
                if self._connected:
                    self._announce(False, f"connection lost: {exc}")
                self._drop_client()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_backoff)

    async def _poll_once(self) -> None:
        wanted = sorted({t for tags, _ in self._subscribers for t in tags})
        if not wanted:
            return
        values = await self.read(wanted)
        self.last_alive = time.monotonic()
        for tags, callback in self._subscribers:
            for tag in tags:
                item = values[tag]
                last = self._last.get(tag)
                if last is None or last.value != item.value or last.quality is not item.quality:
                    callback(item)
        self._last.update(values)

    def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def _announce(self, connected: bool, reason: str) -> None:
        self._connected = connected
        if not connected:
            self._last.clear()
        for listener in list(self._listeners):
            listener(self.name, connected, reason)

    async def close(self) -> None:
        self._closing = True
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        self._connected = False
        self._drop_client()
