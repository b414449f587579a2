"""The stateful fault test, smaller, against a real foreign server through the fault-injecting proxy.

Same machine and invariants as ``tests/unit/equipment/test_safety_stateful.py`` (see
``tests/support/safety_machine.py``), but the plant is node-opcua (its own node ids, % level,
L/s flow, 200 ms valve and pump, totalizer reset on restart), the link faults are real TCP
faults (cut, restore, added latency for slow feedback), the device restart is a killed and
restarted server process, and time is real. A few runs of a few steps: it is slow by nature.
``EBR_STATEFUL_REAL_EXAMPLES`` raises the number of runs.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from equipment.config import PlantConfig, load_plant_config
from equipment.drivers.plantio import PlantIO, build_plant_io
from equipment.subscriptions import subscribe_plant
from tests.support.faultproxy import FaultProxy
from tests.support.safety_machine import SafetyMachine
from tests.support.vendor import VendorPlant, write_vendor_config

EXAMPLES = int(os.environ.get("EBR_STATEFUL_REAL_EXAMPLES", "3"))


class VendorBackend:
    """The node-opcua plant behind the proxy, with the attributes the machine reads and sets."""

    def __init__(self) -> None:
        self.vendor = VendorPlant.start()
        self.proxy = FaultProxy(("127.0.0.1", self.vendor.port)).start()
        self.link_up = True
        self.folder = Path(tempfile.mkdtemp(prefix="ebr-stateful-"))
        self.total = 0.0

    @property
    def valve_cmd(self) -> bool:
        return bool(self.vendor.state()["valve_command"])

    @property
    def valve_open(self) -> bool:
        return bool(self.vendor.state()["position"] > 0)

    @property
    def valve_stuck(self) -> bool:
        return bool(self.vendor.state()["valve_stuck"])

    @valve_stuck.setter
    def valve_stuck(self, stuck: bool) -> None:
        self.vendor.set(valve_stuck=stuck)

    @property
    def feedback_delay(self) -> int:
        return 0

    @feedback_delay.setter
    def feedback_delay(self, steps: int) -> None:
        self.proxy.delay(steps * 0.02)  # slow feedback: every answer up to 160 ms late

    async def cut(self) -> None:
        await asyncio.to_thread(self.proxy.cut)
        self.link_up = False

    async def restore(self) -> None:
        await asyncio.to_thread(self.proxy.restore)
        self.link_up = True

    async def restart_device(self) -> None:
        await asyncio.to_thread(self.vendor.restart)

    def stop(self) -> None:
        self.proxy.stop()
        self.vendor.stop()


class VendorSafetyMachine(SafetyMachine):
    """The machine against node-opcua, in real time."""

    FAULT_STEPS = 30  # 1.5 s: the link watch calls a cut lost after ~1 s; reconnection within ~1 s

    def _build(self) -> tuple[PlantConfig, PlantIO, float]:
        backend = VendorBackend()
        self.plant = backend
        url = f"opc.tcp://127.0.0.1:{backend.proxy.port}/vendor"
        config = load_plant_config(write_vendor_config(backend.folder / "plant.yaml", url))
        return config, build_plant_io(config), 0.3

    async def _subscribe(self) -> None:
        await subscribe_plant(self.runtime.io, self.config, self.runtime._on_value)

    async def _advance(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def _ready(self) -> None:
        for _ in range(250):
            if all(tag in self.runtime.io.latest for tag in self.config.tags):
                return
            await asyncio.sleep(0.02)
        raise TimeoutError("node-opcua did not deliver every tag within 5 s")

    def teardown(self) -> None:
        try:
            super().teardown()
        finally:
            backend: Any = self.plant
            backend.stop()


VendorSafetyMachine.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=8,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.slow
@pytest.mark.requirement("URS-EQP-011", "URS-EQP-012")
class TestSafetyUnderRandomFaultsOnAForeignServer(VendorSafetyMachine.TestCase):  # type: ignore[misc,valid-type]
    """The invariants of issue 15 after every step, against node-opcua through the fault proxy."""
