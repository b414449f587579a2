"""The production web server: gunicorn with deploy/gunicorn.conf.py and several workers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
CONFIG = ROOT / "deploy" / "gunicorn.conf.py"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _get(url: str) -> tuple[int, dict[str, str], str]:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - local test server
        return response.status, dict(response.headers), response.read().decode()


@pytest.fixture
def gunicorn(database_url: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = _free_port()
    log = tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        "EBR_DATABASE_URL": database_url,
        "EBR_DATA_DIR": str(tmp_path / "data"),
        "EBR_SECRET_KEY": "gunicorn-test-secret",
        "EBR_BIND": f"127.0.0.1:{port}",
        "EBR_WEB_WORKERS": "3",
        "EBR_WEB_THREADS": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    command = [sys.executable, "-m", "gunicorn", "--config", str(CONFIG)]
    with log.open("w") as sink:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                _get(base + "/healthz")
                break
            except OSError:
                time.sleep(0.1)
        yield base, log
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.requirement("URS-SYS-007")
def test_gunicorn_serves_with_several_workers_and_metrics_count_every_workers_requests(
    gunicorn: tuple[str, Path],
) -> None:
    base, log = gunicorn
    ids = set()
    for n in range(12):
        status, headers, _ = _get(f"{base}/auth/login?n={n}")
        assert status == 200
        ids.add(headers["X-Request-ID"])
    assert len(ids) == 12
    _, _, text = _get(base + "/metrics")
    line = 'ebr_http_request_duration_seconds_count{endpoint="/auth/login",method="GET",status="200"} 12.0'
    assert line in text
    lines = [json.loads(raw) for raw in log.read_text().splitlines() if raw.startswith("{")]
    workers = {entry["process"] for entry in lines if entry.get("logger") == "ebr.web.access"}
    booted = sum(1 for entry in lines if "Booting worker" in entry["message"])
    assert booted == 3
    assert workers, "the access lines are JSON and name their worker process"
    assert not any("n=" in entry["message"] for entry in lines), "query strings never reach the log"
