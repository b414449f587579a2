"""Crash safety: kill -9 of the web process and of the equipment runtime in the middle of a batch.

Real processes: ``ebr serve`` (web and API), ``ebr runtime`` (OPC UA and Modbus) and
the plant simulator. Nothing committed is lost; after the web process restarts
the batch continues; when the runtime dies during dosing the phase goes to Held
with a deviation, and after the runtime is back a supervisor restarts it and the
batch completes.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.execution.service import build
from equipment.commands import runtime_status
from tests.e2e.batch_support import wait
from tests.integration.execution.api_support import approve_recipe
from tests.integration.execution.conftest import PASSWORD, make_people, make_plant
from tests.support.plant import SimulatorHandle, free_port, start_simulator

RECIPE: dict[str, Any] = {
    "name": "CRASH-DOSE",
    "title": "Two dosings into R-101",
    "product": {"code": "FG-CRASH", "name": "Crash test product"},
    "batch_size": {"nominal": 100, "min": 50, "max": 150, "unit": "L"},
    "unit_procedures": [
        {
            "id": "UP1",
            "name": "Charge R-101",
            "equipment": {"unit_class": "reactor", "unit": "R-101"},
            "operations": [
                {
                    "id": "OP1",
                    "name": "Charge",
                    "phases": [
                        {
                            "id": "PH1",
                            "name": "Reactor ready",
                            "type": "equipment_check",
                            "equipment": "R-101",
                            "checks": ["clean"],
                        },
                        {
                            "id": "PH2",
                            "name": "First water",
                            "type": "dosing",
                            "source": "T-100",
                            "destination": "R-101",
                            "target": "150",
                            "unit": "L",
                            "tolerance": "2",
                            "tolerance_unit": "L",
                        },
                        {
                            "id": "PH3",
                            "name": "Second water",
                            "type": "dosing",
                            "source": "T-100",
                            "destination": "R-101",
                            "target": "200",
                            "unit": "L",
                            "tolerance": "2",
                            "tolerance_unit": "L",
                        },
                        {
                            "id": "PH4",
                            "name": "Level",
                            "type": "data_entry",
                            "kind": "numeric",
                            "prompt": "Level",
                            "unit": "L",
                            "low": 0,
                            "high": 2000,
                        },
                    ],
                }
            ],
        }
    ],
}


class Http:
    """A person's HTTP session against the live server (cookies kept across server restarts)."""

    def __init__(self, base: str, user: str) -> None:
        self.base, self.user = base, user
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.call("POST", "/api/session", {"user_id": user, "password": PASSWORD})

    def call(self, method: str, path: str, body: Any = None, expect: tuple[int, ...] = (200, 201)) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310 - local test server
        request.add_header("Content-Type", "application/json")
        try:
            with self.opener.open(request, timeout=30) as response:
                status, payload = response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            status, payload = exc.code, json.loads(exc.read() or b"null")
        assert status in expect, (method, path, status, payload)
        return payload

    def step(self, number: str, path: str) -> Any:
        return self.call("GET", f"/api/batches/{number}/steps/{path}")

    def sig(self, meaning: str = "performed") -> dict[str, str]:
        return {"user_id": self.user, "password": PASSWORD, "meaning": meaning}


class Process:
    """A child process we can kill -9 and start again with the same command."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.command, self.env, self.log = command, env, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.command, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        return self

    def kill9(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[SimulatorHandle]:
    with start_simulator(tmp_path) as sim:
        yield sim


@pytest.fixture
def plant_env(services: Services, tmp_path: Path) -> dict[str, str]:
    make_people(services)
    make_plant(services, {"R-101": "unit", "T-100": "tank"})
    return os.environ | {
        "EBR_DATABASE_URL": services.settings.database_url,
        "EBR_SECRET_KEY": "crash-test-secret-key-0123456789abcdef",
        "EBR_DATA_DIR": str(tmp_path / "data"),
        "PYTHONUNBUFFERED": "1",
        "EBR_SECURE_COOKIES": "false",  # plain http on 127.0.0.1 in this test
    }


def _ebr(*args: str) -> list[str]:
    return [sys.executable, "-m", "ebr", *args]


def _healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/healthz", timeout=2) as response:  # noqa: S310 - local test server
            return bool(response.status == 200)
    except OSError:
        return False


def _running(person: Http, number: str, path: str) -> bool:
    step = person.step(number, path)
    return bool(step["state"] == "Running" and step["data"].get("runtime") == "started")


def _dosed(person: Http, number: str, path: str) -> bool:
    step = person.step(number, path)
    assert step["state"] == "Running", f"dosing {path} went {step['state']}: {step['data']}"
    return any(e["name"] == "actual" for e in step["entries"])


def _runtime_up(services: Services) -> bool:
    with services.session_factory() as session:
        return runtime_status(session, now=services.clock.now()).connected


def _restart(person: Http, number: str, path: str) -> bool:
    answer = person.call(
        "POST",
        f"/api/batches/{number}/steps/{path}/commands",
        {"command": "restart", "signature": person.sig("restarted")},  # held by the equipment: signed
        expect=(200, 400),
    )
    return "state" in answer and answer["state"] == "Running"


@pytest.mark.slow
@pytest.mark.requirement("URS-BAT-006")
def test_killing_the_web_process_and_the_runtime_mid_batch_loses_nothing_and_the_batch_completes(
    services: Services,
    simulator: SimulatorHandle,
    plant_env: dict[str, str],
    tmp_path: Path,
) -> None:
    label = approve_recipe(services, yaml.safe_dump(RECIPE), "crash.yaml")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web = Process(_ebr("serve", "--port", str(port)), plant_env, tmp_path / "web.log").start()
    runtime = Process(_ebr("runtime", "--config", str(simulator.config_path)), plant_env, tmp_path / "rt.log").start()
    try:
        wait(lambda: _healthy(base), 30, "the web app to answer")
        olga, sam = Http(base, "olga"), Http(base, "sam")
        number = sam.call("POST", "/api/batches", {"recipe": label, "size": "100", "order": "PO-CRASH"})["number"]
        sam.call("POST", f"/api/batches/{number}/release", {})
        olga.call("POST", f"/api/batches/{number}/start", {})
        olga.call("POST", f"/api/batches/{number}/steps/UP1.OP1.PH1/start", {})
        olga.call("POST", f"/api/batches/{number}/steps/UP1.OP1.PH1/complete", {"signatures": [olga.sig()]})
        wait(lambda: _runtime_up(services), 60, "the equipment runtime to connect")
        olga.call("POST", f"/api/batches/{number}/steps/UP1.OP1.PH2/start", {})

        # 1. kill -9 of the web process while the plant doses; the runtime carries on.
        web.kill9()
        web.start()
        wait(lambda: _healthy(base), 30, "the web app to answer after kill -9")
        wait(lambda: _dosed(olga, number, "UP1.OP1.PH2"), 120, "the first dosing to finish")
        done = olga.call("POST", f"/api/batches/{number}/steps/UP1.OP1.PH2/complete", {"signatures": [olga.sig()]})
        assert done["completed"] is True

        # 2. kill -9 of the runtime during the second dosing: the phase goes to Held with a deviation.
        olga.call("POST", f"/api/batches/{number}/steps/UP1.OP1.PH3/start", {})
        wait(lambda: _running(olga, number, "UP1.OP1.PH3"), 30, "the second dosing to run")
        time.sleep(2)
        runtime.kill9()
        held = wait(lambda: olga.step(number, "UP1.OP1.PH3")["state"] == "Held", 30, "the phase to go to Held")
        assert held
        step = olga.step(number, "UP1.OP1.PH3")
        deviation = step["deviations"][0]
        found = olga.call("GET", f"/api/deviations/{deviation}")
        assert "uncertain" in found["description"]
        assert found["kind"] == "interlock_trip"

        runtime.start()
        wait(lambda: _runtime_up(services), 60, "the equipment runtime to connect again")
        refused = sam.call(
            "POST", f"/api/batches/{number}/steps/UP1.OP1.PH3/commands", {"command": "restart"}, expect=(409,)
        )
        assert "deviation" in refused["message"]
        sam.call(
            "POST",
            f"/api/deviations/{deviation}/signatures",
            {
                "comment": "runtime killed in test; level and totalizer checked on site",
                "signature": sam.sig("verified"),
            },
        )
        # The new runtime reconnects and recovers the stranded phase as Held; until then it refuses.
        wait(lambda: _restart(sam, number, "UP1.OP1.PH3"), 60, "the runtime to accept the restart")
        wait(lambda: _dosed(olga, number, "UP1.OP1.PH3"), 120, "the second dosing to finish after the restart")
        olga.call("POST", f"/api/batches/{number}/steps/UP1.OP1.PH3/complete", {"signatures": [olga.sig()]})
        olga.call("POST", f"/api/batches/{number}/steps/UP1.OP1.PH4/start", {})
        olga.call(
            "POST",
            f"/api/batches/{number}/steps/UP1.OP1.PH4/complete",
            {"values": {"value": "350"}, "signatures": [olga.sig()]},
        )
        batch = olga.call("GET", f"/api/batches/{number}")
        assert (batch["status"], batch["state"]) == ("complete", "Complete")
        actual = next(e for e in olga.step(number, "UP1.OP1.PH3")["entries"] if e["name"] == "actual")
        assert abs(float(actual["value"]) - 200) <= 2, "the restart doses only what was missing"
    finally:
        web.stop()
        runtime.stop()
    with unit_of_work(services.session_factory) as session:
        assert build(services).batch(session, number).status == "complete"
