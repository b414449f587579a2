"""Running whole batches of the example recipes through the JSON API against the simulator."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ebr.core.clock import SystemClock
from tests.integration.execution.api_support import Api
from tests.support.plant import SimulatorHandle


class ShiftedClock:
    """The system clock plus an offset the test moves forward (a 30-minute hold in no time)."""

    def __init__(self) -> None:
        self._offset = dt.timedelta(0)
        self._lock = threading.Lock()
        self._system = SystemClock()

    def now(self) -> dt.datetime:
        with self._lock:
            return self._system.now() + self._offset

    def advance(self, **delta: float) -> None:
        with self._lock:
            self._offset += dt.timedelta(**delta)


def wait(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout} s")
        time.sleep(0.25)


class Runner:
    """Drives a batch step by step the way people on the floor would, through the API."""

    def __init__(
        self,
        operator: Api,
        supervisor: Api,
        sim: SimulatorHandle,
        clock: ShiftedClock,
        values: dict[str, Any],
        runtime_alive: Callable[[], bool] = lambda: True,
    ) -> None:
        self.op, self.sup, self.sim, self.clock, self.values = operator, supervisor, sim, clock, values
        self.runtime_alive = runtime_alive
        self.early_refusals = 0

    def run(self, number: str, *, max_steps: int = 200) -> dict[str, Any]:
        for _ in range(max_steps):
            batch = self.op.call("GET", f"/api/batches/{number}")
            if batch["status"] == "complete":
                return dict(batch)
            current = batch["current_steps"]
            assert current, f"batch {number} is {batch['status']}/{batch['state']} with nothing to do"
            self.do(number, current[0])
        raise AssertionError(f"batch {number} did not complete in {max_steps} steps")

    def do(self, number: str, summary: dict[str, Any]) -> None:
        path, kind = summary["path"], summary["type"]
        if summary["state"] == "Idle":
            self.op.start(number, path)
        step = self.op.step(number, path)
        values = self.values.get(path)
        handler = getattr(self, f"_{kind}", None)
        if handler is not None:
            values = handler(number, path, step)
        verifier = self.sup if "verified" in step["required_signatures"] else None
        meanings = tuple(step["required_signatures"])
        self.op.complete(number, path, values=values, verifier=verifier, meanings=meanings)

    def _sample(self, number: str, path: str, step: dict[str, Any]) -> None:
        """The operator scans the sample; QC (quinn) enters its results, which the step waits for."""
        self.op.record(number, path, {"sample_id": self.values[path]["sample_id"]})
        results = self.values[path].get("results", {})
        if results:
            qc = Api(self.op.client.application.test_client(), "quinn")
            url = f"/api/samples/{self.values[path]['sample_id']}/results"
            for test, value in results.items():
                qc.call("POST", url, {"test": test, "value": value})

    def _weigh_dispense(self, number: str, path: str, step: dict[str, Any]) -> None:
        self.op.record(number, path, {"container": self.values[path]["container"]})
        self.sim.place_weight(0.0)
        self._settle(number, path, {"tare": True})
        target = next(e["value"] for e in self.op.step(number, path)["entries"] if e["name"] == "target")
        self.sim.place_weight(float(Decimal(target)))
        self._settle(number, path, {"weigh": True})
        self.sim.place_weight(0.0)

    def _settle(self, number: str, path: str, values: dict[str, Any]) -> None:
        last: list[Any] = []

        def attempt() -> bool:
            time.sleep(0.7)  # the scale reports stable after ~0.5 s without change; readings every 0.5 s
            response = self.op.client.post(f"/api/batches/{number}/steps/{path}/entries", json={"values": values})
            last[:] = [response.json]
            return response.status_code == 201

        try:
            wait(attempt, 20, f"a stable scale reading for {path}")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}; last answer: {last}") from None

    def _dosing(self, number: str, path: str, step: dict[str, Any]) -> None:
        def dosed() -> bool:
            current = self.op.step(number, path)
            assert current["state"] == "Running", f"dosing {path} went {current['state']}: {current['data']}"
            return any(e["name"] == "actual" for e in current["entries"])

        wait(dosed, 240, f"dosing {path}")

    def _timed_hold(self, number: str, path: str, step: dict[str, Any]) -> None:
        assert step["hold"]["remaining_s"] > 0, step["hold"]  # the countdown the operator sees
        refused = self.op.complete(number, path, expect=409)
        assert "completing early is refused" in refused["message"]
        self.early_refusals += 1
        self.clock.advance(minutes=self.values[path]["minutes"])
        # Until the runtime beats again its last heartbeat looks half an hour old (a test artifact
        # of moving the clock): wait for it, or the next dosing would rightly be held as uncertain.
        wait(self.runtime_alive, 30, "the runtime's heartbeat after the clock moved")
        # Half an hour without a click ends a session (idle timeout): people log in again.
        self.op.login()
        self.sup.login()
