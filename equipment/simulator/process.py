"""Running the simulator as a process (``ebr simulate`` and ``python -m equipment.simulator``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from equipment.simulator.control import start_control
from equipment.simulator.physics import Plant
from equipment.simulator.server import Simulator, SimulatorOptions


async def serve(options: SimulatorOptions, *, ready_line: bool = True) -> None:
    """Run until SIGINT/SIGTERM; print ``ready <opcua url> <modbus port> <control port>`` once listening."""
    logging.getLogger("pymodbus").setLevel(logging.WARNING)
    sim = Simulator(options, Plant())
    await sim.start()
    control = await start_control(sim, options.host, options.control_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if ready_line:
        print(f"ready {options.opcua_url} {options.modbus_port} {options.control_port}", flush=True)
    try:
        await stop.wait()
    finally:
        control.close()
        await control.wait_closed()
        await sim.stop()


def parse_args(argv: list[str]) -> SimulatorOptions:
    parser = argparse.ArgumentParser(prog="python -m equipment.simulator", description="EBR plant simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--opcua-port", type=int, default=4840)
    parser.add_argument("--modbus-port", type=int, default=5020)
    parser.add_argument("--control-port", type=int, default=8840)
    parser.add_argument("--rate", type=float, default=20.0, help="physics steps per second (≥ 10)")
    parser.add_argument("--security", choices=["None", "Sign", "SignAndEncrypt", "all"], default="None")
    parser.add_argument("--cert-dir", type=Path)
    parser.add_argument("--username", help="require this user; the password is read from EBR_SIMULATOR_PASSWORD")
    args = parser.parse_args(argv)
    if args.rate < 10:
        parser.error("--rate must be at least 10 Hz")
    return SimulatorOptions(
        host=args.host,
        opcua_port=args.opcua_port,
        modbus_port=args.modbus_port,
        control_port=args.control_port,
        rate_hz=args.rate,
        security=args.security,
        cert_dir=args.cert_dir,
        username=args.username,
        password=os.environ.get("EBR_SIMULATOR_PASSWORD", "") if args.username else None,
    )


def main(argv: list[str] | None = None) -> None:
    asyncio.run(serve(parse_args(sys.argv[1:] if argv is None else argv)))
