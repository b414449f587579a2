"""The scale's stale-data refusal end to end: Modbus scale → fault proxy → runtime → readings → weighing.

The weighing reads the scale through the runtime (``ebr/execution/scale.py``). When the scale
stops answering (the proxy stalls its TCP link: no FIN, no RST, the bytes are held), the weight
the runtime last published must not be taken as current: the read is refused with a message
that names the scale, how long it has not answered and what to do; once the link flows again
the weight is read again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import pytest

from ebr.bootstrap import Services
from ebr.core.errors import StateError
from ebr.execution.context import ScaleReading
from ebr.execution.scale import RuntimeScale
from tests.support.faultproxy import FaultProxy
from tests.support.plant import start_runtime, start_simulator, write_config

T = TypeVar("T")
AGE = re.compile(r"no answer (?:from scale \((?P<a>\d+\.\d) s\)|for (?P<b>\d+\.\d) s)")


def _until(what: Callable[[], T | None], timeout: float, describe: str) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = what()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(describe)
        time.sleep(0.1)


@pytest.mark.requirement("URS-EQP-014")
def test_a_scale_that_stops_answering_is_refused_with_the_age_of_its_weight(services: Services, tmp_path: Path) -> None:
    scale = RuntimeScale(clock=services.clock)

    def read() -> ScaleReading | StateError:
        with services.session_factory() as session:
            try:
                return scale.read(session, "SC-01")
            except StateError as exc:
                return exc

    def weight() -> ScaleReading | None:
        result = read()
        return result if isinstance(result, ScaleReading) and result.weight == Decimal("12.345") else None

    def refusal() -> StateError | None:
        result = read()
        return result if isinstance(result, StateError) and AGE.search(str(result)) else None

    with start_simulator(tmp_path) as sim, FaultProxy(("127.0.0.1", sim.modbus_port)) as proxy:
        config = write_config(tmp_path / "proxied.yaml", opcua_url=sim.opcua_url, modbus_port=proxy.port)
        with start_runtime(services, config) as handle:
            handle.wait_connected()
            sim.place_weight(12.345)
            assert _until(weight, 10, "the runtime never published the 12.345 kg weight").weight == Decimal("12.345")

            stalled_at = time.monotonic()
            proxy.stall()
            error = _until(refusal, 15, f"a stalled scale was still read as current: {read()}")
            waited = time.monotonic() - stalled_at
            message = str(error)
            assert message.startswith("scale SC-01 cannot be read, its weight is not current"), message
            assert "check the scale and its connection, then weigh again" in message, message
            match = AGE.search(message)
            assert match is not None
            age = float(match.group("a") or match.group("b"))
            # Refused once the endpoint has been silent for its max_data_age_ms (3 s by default),
            # within the heartbeat period (1 s) and the poll period; the age shown is that silence.
            assert 3.0 <= age <= waited + 0.5, (age, waited, message)
            assert waited < 3.0 + 1.0 + 1.5, f"refused only {waited:.1f} s after the scale stopped answering"

            proxy.restore()
            _until(weight, 15, f"the scale was not read again after the link flowed: {read()}")
