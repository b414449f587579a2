"""The README's demo command, run as a user runs it: `scripts/demo.sh` (what `make demo` calls).

It prepares a fresh SQLite installation (users, plant, lots, approved recipes, one
liquid batch executed against the simulator, reviewed and released), then serves
the simulator, the equipment runtime, the scheduled jobs and the web app. The test
waits for the printed URL, checks that /healthz is green in every part, logs in as
the demo operator and finds both batches, and stops the demo as systemd would
(SIGTERM): every process of it ends.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ebr.demo import PASSWORD
from tests.support.plant import free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


class Demo:
    """The demo's process group and everything it printed."""

    def __init__(self, data_dir: Path, port: int) -> None:
        env = os.environ | {"EBR_DATA_DIR": str(data_dir), "EBR_DATABASE_URL": f"sqlite:///{data_dir}/ebr.sqlite"}
        self.process = subprocess.Popen(
            ["bash", "scripts/demo.sh", "--port", str(port)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if found := re.search(pattern, line):
                    return found
            assert self.process.poll() is None, "the demo ended:\n" + "\n".join(self.lines[-30:])
            time.sleep(0.5)
        raise AssertionError(f"the demo did not print {pattern!r} in {timeout:.0f} s:\n" + "\n".join(self.lines[-30:]))

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def close(self) -> None:
        """The output pipe is read to its end, then closed (an open one warns in a later test)."""
        self.reader.join(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    running = Demo(tmp_path / "demo", free_port())
    try:
        yield running
    finally:
        if running.process.poll() is None:
            os.killpg(running.process.pid, signal.SIGKILL)
            running.process.wait(timeout=10)
        running.close()


def _browser() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


def _get(opener: urllib.request.OpenerDirector, url: str) -> tuple[int, str]:
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _healthz(base: str, timeout: float = 30) -> dict[str, Any]:
    """Poll until every check is green (the runtime connects a few seconds after start)."""
    deadline, answer = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        status, body = _get(_browser(), base + "healthz")
        answer = json.loads(body)
        if status == 200 and all(check["ok"] for check in answer["checks"].values()):
            return dict(answer)
        time.sleep(1)
    raise AssertionError(f"/healthz did not turn green in {timeout:.0f} s: {answer}")


def test_the_readme_demo_command_prepares_serves_and_stops_cleanly(demo: Demo) -> None:
    base = demo.wait_for(r"EBR demo: (http://\S+/)", timeout=360).group(1)
    executed = demo.wait_for(r"batch (\S+) of the liquid example was executed against the simulator", 10).group(1)
    for user in ("olga", "sam", "quinn", "alex", "ada"):
        demo.wait_for(rf"^\s+{user}\s", 5)

    health = _healthz(base)
    assert set(health["checks"]) >= {"runtime", "scheduler", "audit_chain", "jobs"}

    browser = _browser()
    _status, page = _get(browser, base + "auth/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    form = urllib.parse.urlencode({"user_id": "olga", "password": PASSWORD, "csrf_token": token}).encode()
    with browser.open(urllib.request.Request(base + "auth/login", data=form), timeout=10) as response:  # noqa: S310
        assert response.status == 200
        assert "Signed in as" in response.read().decode()
    status, batches = _get(browser, base + "batches/")
    assert status == 200
    assert re.search(rf"{executed}.*?released", batches, re.S), "the executed batch is listed as released"
    assert "ready" in batches, "a second batch waits on the floor"

    code = demo.stop()
    assert code == 0, f"SIGTERM ends the demo like Ctrl-C, exit {code}:\n" + "\n".join(demo.lines[-10:])
    time.sleep(1)
    leftovers = subprocess.run(["pgrep", "-g", str(demo.process.pid)], capture_output=True, text=True).stdout.split()
    assert leftovers == [], "every process of the demo (simulator included) ends with it"
