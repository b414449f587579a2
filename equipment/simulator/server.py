"""The simulated plant as an OPC UA server (asyncua) plus a Modbus TCP scale (pymodbus).

Node ids are ``ns=2;s=<tag>`` (namespace ``urn:ebr:simulator:plant``), exactly as in
``equipment/examples/plant.yaml``. Client writes reach the physics at once through
asyncua's PreWrite callback (and are logged with their arrival time, which the
interlock benchmark reads); values are published on change after every physics
step with source and server timestamps.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asyncua import ua
from asyncua.common.callback import CallbackType, ServerItemCallback
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.server import Server
from asyncua.ua.status_codes import StatusCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from ebr.core.clock import utc_now
from equipment.config import ModbusAddress
from equipment.drivers.codec import encode
from equipment.simulator.certs import make_certificate
from equipment.simulator.physics import Plant

log = logging.getLogger(__name__)
NAMESPACE = "urn:ebr:simulator:plant"
APPLICATION_URI = "urn:ebr:simulator"
WRITABLE = {
    "R-101.inlet_valve",
    "R-101.pump",
    "R-101.agitator",
    "R-101.pump_speed",
    "R-101.jacket_setpoint",
    "FS-01.running",
    "R-101.heat_command",
    "R-101.heat_sp_temperature",
    "R-101.heat_watchdog_in",
}
SCALE_FLOAT = ModbusAddress(register=0, data_type="float32", word_order="little")
SCALE_GRAMS = ModbusAddress(register=2, data_type="int32", scale=0.001)
POLICIES = {
    "None": [ua.SecurityPolicyType.NoSecurity],
    "Sign": [ua.SecurityPolicyType.Basic256Sha256_Sign],
    "SignAndEncrypt": [ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt],
    "all": [
        ua.SecurityPolicyType.NoSecurity,
        ua.SecurityPolicyType.Basic256Sha256_Sign,
        ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
    ],
}


@dataclass
class SimulatorOptions:
    """Where and how the simulator listens."""

    host: str = "127.0.0.1"
    opcua_port: int = 4840
    modbus_port: int = 5020
    control_port: int = 8840
    rate_hz: float = 20.0
    security: str = "None"  # None | Sign | SignAndEncrypt | all
    cert_dir: Path | None = None
    username: str | None = None
    password: str | None = None

    @property
    def opcua_url(self) -> str:
        return f"opc.tcp://{self.host}:{self.opcua_port}/ebr/simulator"


class _Users:
    """Accepts only the configured user when one is configured (else anyone)."""

    def __init__(self, username: str | None, password: str | None) -> None:
        self.username, self.password = username, password

    def get_user(
        self, iserver: Any, username: str | None = None, password: str | None = None, certificate: Any = None
    ) -> User | None:
        if self.username is None:
            return User(role=UserRole.User)
        if username == self.username and password == self.password:
            return User(role=UserRole.User)
        return None


@dataclass
class WriteRecord:
    tag: str
    value: Any
    at: float  # time.time() when the write request reached the server


@dataclass
class Simulator:
    """The running simulator; ``plant`` is its physics, ``writes`` what clients commanded."""

    options: SimulatorOptions
    plant: Plant = field(default_factory=Plant)
    writes: list[WriteRecord] = field(default_factory=list)
    server: Server | None = None
    _nodes: dict[str, ua.NodeId] = field(default_factory=dict)
    _tags: dict[str, str] = field(default_factory=dict)
    _published: dict[str, Any] = field(default_factory=dict)
    _modbus: ModbusTcpServer | None = None
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _running: bool = False

    async def start(self) -> None:
        """Start the OPC UA server, the Modbus scale and the physics loop."""
        await self._start_opcua()
        await self._start_modbus()
        self._running = True
        self._tasks.append(asyncio.create_task(self._physics_loop()))

    async def _start_opcua(self) -> None:
        opts = self.options
        server = Server(user_manager=_Users(opts.username, opts.password))  # type: ignore[arg-type]
        await server.init()
        server.set_endpoint(opts.opcua_url)
        server.set_server_name("EBR plant simulator")
        await server.set_application_uri(APPLICATION_URI)
        server.set_security_policy(POLICIES[opts.security])
        if opts.security != "None" or opts.cert_dir is not None:
            pair = self._server_certificate()
            await server.load_certificate(str(pair[0]))
            await server.load_private_key(str(pair[1]))
        idx = await server.register_namespace(NAMESPACE)
        folders: dict[str, Any] = {}
        for tag, value in self.plant.outputs().items():
            unit, _, name = tag.partition(".")
            if unit not in folders:
                folders[unit] = await server.nodes.objects.add_object(idx, unit)
            node = await folders[unit].add_variable(
                ua.NodeId(ua.String(tag), ua.Int16(idx)), name, ua.Variant(value, _variant(value))
            )
            if tag in WRITABLE:
                await node.set_writable()
            self._nodes[tag] = node.nodeid
            self._tags[node.nodeid.to_string()] = tag
        server.subscribe_server_callback(CallbackType.PreWrite, self._on_write)
        await server.start()
        self.server = server

    def _server_certificate(self) -> tuple[Path, Path]:
        folder = self.options.cert_dir or Path("var") / "simulator-certs"
        cert, key = folder / "simulator-cert.der", folder / "simulator-key.pem"
        if not cert.exists() or not key.exists():
            pair = make_certificate(folder, "simulator", APPLICATION_URI)
            return pair.certificate, pair.private_key
        return cert, key

    async def _start_modbus(self) -> None:
        device = SimDevice(
            id=1, simdata=[SimData(0, values=[0] * 8, datatype=DataType.REGISTERS)], action=self._modbus_action
        )
        self._modbus = ModbusTcpServer(device, address=(self.options.host, self.options.modbus_port))
        self._tasks.append(asyncio.create_task(self._modbus.serve_forever()))
        for _ in range(100):  # serve_forever binds asynchronously; wait until it listens
            if await _port_open(self.options.host, self.options.modbus_port):
                return
            await asyncio.sleep(0.02)
        raise OSError(f"the Modbus scale did not start on port {self.options.modbus_port}")

    def scale_registers(self) -> list[int]:
        """Registers 0–1 float32 kg (low word first), 2–3 int32 grams, 4 status (bit 0 stable)."""
        kg = self.plant.scale_kg
        return [*encode(kg, SCALE_FLOAT), *encode(kg, SCALE_GRAMS), 1 if self.plant.scale_stable else 0, 0, 0, 0]

    async def _modbus_action(
        self, function_code: int, start_address: int, address: int, count: int, registers: list[int], values: Any
    ) -> None:
        current = self.scale_registers()
        for i in range(len(registers)):
            if 0 <= start_address + i < len(current):
                registers[i] = current[start_address + i]

    def _on_write(self, event: ServerItemCallback, _dispatcher: Any) -> None:
        now = time.time()
        for item in event.request_params.NodesToWrite:
            tag = self._tags.get(item.NodeId.to_string())
            if tag is None or item.Value is None or item.Value.Value is None:
                continue
            value = item.Value.Value.Value
            self.writes.append(WriteRecord(tag, value, now))
            self.plant.command(tag, value)
            self._published.pop(tag, None)  # the node now holds the client's value: republish ours

    async def _physics_loop(self) -> None:
        period = 1.0 / self.options.rate_hz
        next_tick = time.monotonic()
        while self._running:
            try:
                self.plant.step(period)
                await self.publish()
            except Exception:  # a simulator keeps simulating; log.exception records the error
                log.exception("physics step failed")
            next_tick += period
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))

    async def publish(self) -> None:
        """Write every changed output to its node (subscribers are notified on change)."""
        assert self.server is not None
        now: Any = utc_now()  # asyncua's DateTime alias is a datetime
        bad = self.plant.faults.sensor_bad
        for tag, value in self.plant.outputs().items():
            failed = bad and tag == "R-101.level"
            key = ("bad",) if failed else value
            if self._published.get(tag) == key:
                continue
            self._published[tag] = key
            status = ua.StatusCode(ua.UInt32(StatusCodes.BadSensorFailure if failed else StatusCodes.Good))
            data = ua.DataValue(
                Value=ua.Variant(value, _variant(value)), StatusCode=status, SourceTimestamp=now, ServerTimestamp=now
            )
            await self.server.write_attribute_value(self._nodes[tag], data)

    async def drop_connections(self, seconds: float) -> None:
        """Cut every client connection and refuse new ones for ``seconds``."""
        assert self.server is not None
        iserver = self.server.iserver
        iserver.max_connections = 0
        for transport in list(iserver.asyncio_transports):
            transport.abort()

        async def restore() -> None:
            await asyncio.sleep(seconds)
            iserver.max_connections = 1000

        self._tasks.append(asyncio.create_task(restore()))

    async def stop(self) -> None:
        self._running = False
        if self._modbus is not None:
            await self._modbus.shutdown()  # type: ignore[no-untyped-call]
        for task in self._tasks:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass  # what cancel() asked for
            except Exception:  # a failed background task must not keep the simulator from stopping
                log.exception("simulator task %s failed", task.get_coro())
        if self.server is not None:
            await self.server.stop()


def _variant(value: Any) -> ua.VariantType:
    if isinstance(value, bool):
        return ua.VariantType.Boolean
    if isinstance(value, int):
        return ua.VariantType.Int32
    return ua.VariantType.Double


async def _port_open(host: str, port: int) -> bool:
    try:
        _reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
