"""Loop supervision: every failure logged with context, counted, retried with bounded backoff, fatal beyond limits."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit.trail import AuditTrail
from ebr.core.clock import SystemClock
from equipment.drivers.base import TagValue
from equipment.runtime import EquipmentRuntime
from equipment.supervision import Backoff, RuntimeFatal, Supervision
from tests.support.plantmodel import ModelPlant, model_config


class FakeClock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.requirement("URS-SYS-020")
def test_a_failure_is_logged_with_its_context_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    supervision = Supervision(area="AREA-1", backoff=Backoff(0.2, 5.0, 60.0))
    watch = supervision.watch("readings")
    with caplog.at_level(logging.ERROR, logger="equipment.supervision"):
        delay = watch.failed(OSError("database is away"), "3 reading(s), e.g. R-101.level")
        watch.failed(OSError("database is away"), "3 reading(s), e.g. R-101.level")
    assert delay == pytest.approx(0.2)
    assert supervision.count("readings") == 2
    assert supervision.count("heartbeat") == 0
    first = caplog.records[0].getMessage()
    assert "readings failed" in first
    assert "AREA-1" in first
    assert "R-101.level" in first
    assert "database is away" in first
    assert caplog.records[0].exc_info is not None, "the first failure of a run carries its traceback"
    assert caplog.records[1].exc_info is None, "a retry is one line"


@pytest.mark.requirement("URS-SYS-021")
def test_the_backoff_doubles_up_to_its_maximum_and_a_success_starts_again() -> None:
    watch = Supervision(area="A", backoff=Backoff(0.2, 1.0, None), monotonic=FakeClock()).watch("commands")
    delays = [watch.failed(OSError("away"), "claiming commands") for _ in range(6)]
    assert delays == pytest.approx([0.2, 0.4, 0.8, 1.0, 1.0, 1.0])
    watch.succeeded()
    assert watch.failed(OSError("away"), "claiming commands") == pytest.approx(0.2)


@pytest.mark.requirement("URS-SYS-021")
def test_a_failure_that_outlasts_the_limit_is_fatal_with_one_clear_message() -> None:
    clock = FakeClock()
    watch = Supervision(area="AREA-1", backoff=Backoff(0.2, 5.0, 30.0), monotonic=clock).watch("heartbeat")
    watch.failed(OSError("database is away"), "runtime R1")
    clock.now += 29.0
    watch.failed(OSError("database is away"), "runtime R1")
    clock.now += 1.0
    with pytest.raises(RuntimeFatal) as raised:
        watch.failed(OSError("database is away"), "runtime R1")
    message = str(raised.value)
    assert "heartbeat failed 3 time(s) over 30 s" in message
    assert "runtime R1" in message
    assert "database is away" in message
    assert "restarts it" in message


@pytest.mark.requirement("URS-SYS-021")
def test_a_loop_with_an_attempt_limit_gives_up_after_that_many_failures() -> None:
    watch = Supervision(area="A", backoff=Backoff(0.1, 0.1, None, max_attempts=3)).watch("ticks")
    watch.failed(ValueError("bug"), "phase P1")
    watch.failed(ValueError("bug"), "phase P1")
    with pytest.raises(RuntimeFatal, match="ticks failed 3 time"):
        watch.failed(ValueError("bug"), "phase P1")


@given(
    initial=st.floats(min_value=0.001, max_value=10, allow_nan=False),
    factor=st.floats(min_value=1, max_value=100, allow_nan=False),
    attempt=st.integers(min_value=1, max_value=10_000),
)
def test_no_delay_is_ever_longer_than_the_maximum(initial: float, factor: float, attempt: int) -> None:
    backoff = Backoff(initial, initial * factor, None)
    delay = backoff.delay(attempt)
    assert initial <= delay <= backoff.maximum_s
    assert backoff.delay(attempt + 1) >= delay


def test_a_backoff_whose_first_delay_exceeds_its_maximum_is_refused() -> None:
    with pytest.raises(ValueError, match="initial"):
        Backoff(2.0, 1.0)


class DeadRecorder:
    """A recorder whose database is gone: every write fails."""

    def __init__(self) -> None:
        self.heartbeats: list[tuple[bool, str]] = []
        self.fail_heartbeat = True

    def heartbeat(self, *, connected: bool, detail: str) -> None:
        if self.fail_heartbeat:
            raise OSError("database is away")
        self.heartbeats.append((connected, detail))

    def readings(self, items: list[TagValue], units: dict[str, str], decimals: dict[str, int]) -> None:
        raise OSError("database is away")

    def trend(self, points: list[Any]) -> None: ...


def _runtime(plant: ModelPlant, recorder: DeadRecorder, backoff: Backoff) -> EquipmentRuntime:
    runtime = EquipmentRuntime(
        config=model_config(),
        factory=None,  # type: ignore[arg-type]  # the recorder below opens no session
        audit=AuditTrail(),
        clock=SystemClock(),
        io=plant.io(),
        heartbeat_s=0.01,
        readings_s=0.01,
        backoff=backoff,
    )
    runtime.recorder = recorder  # type: ignore[assignment]
    return runtime


@pytest.mark.requirement("URS-SYS-021")
def test_a_heartbeat_that_keeps_failing_ends_the_runtime_instead_of_retrying_forever() -> None:
    async def scenario() -> EquipmentRuntime:
        runtime = _runtime(ModelPlant(), DeadRecorder(), Backoff(0.01, 0.05, 0.3))
        runtime._spawn(runtime._heartbeat_loop())
        await asyncio.wait_for(runtime._failed.wait(), timeout=5)
        for task in runtime._tasks:
            task.cancel()
        return runtime

    runtime = asyncio.run(scenario())
    assert isinstance(runtime.fatal, RuntimeFatal)
    assert "heartbeat failed" in str(runtime.fatal)
    assert runtime.runtime_id in str(runtime.fatal)
    assert runtime.counters["heartbeat write failures"] >= 2
    assert runtime.supervision.count("heartbeat") == runtime.counters["heartbeat write failures"]


@pytest.mark.requirement("URS-SYS-022")
def test_while_readings_cannot_be_written_the_heartbeat_says_they_are_stale_and_not_connected() -> None:
    async def scenario() -> DeadRecorder:
        plant = ModelPlant()
        recorder = DeadRecorder()
        recorder.fail_heartbeat = False
        runtime = _runtime(plant, recorder, Backoff(0.01, 0.02, None))
        await runtime.io.subscribe(list(plant.values()), runtime._on_value)
        await runtime.io.connect()
        plant.step(0.1)
        runtime._spawn(runtime._readings_loop())
        await asyncio.sleep(0.1)
        runtime._spawn(runtime._heartbeat_loop())
        await asyncio.sleep(0.1)
        for task in runtime._tasks:
            task.cancel()
        await asyncio.gather(*runtime._tasks, return_exceptions=True)
        await runtime.io.close()
        return recorder

    recorder = asyncio.run(scenario())
    assert recorder.heartbeats
    connected, detail = recorder.heartbeats[-1]
    assert connected is False
    assert "readings not written for" in detail
    assert "stale" in detail
