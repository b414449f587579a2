"""Andon board latency: a runtime state change → the board's server-sent event at the client.

gunicorn (gthread, 2 workers × 24 threads) on PostgreSQL serves ``/andon/Formulation/stream``
to N signed-in SSE clients (each logs in through the login form like a browser and keeps its
stream open, reconnecting when the server ends it). The benchmark then changes the unit's
state the way the runtime does, by an audit event in its own transaction
(``equipment.alarm.raised`` → down, ``equipment.phase.running`` → running), and times from
the commit to the moment each client has read the board with the new state. Reported: p50
and p95 over ``EBR_BENCH_ANDON_CHANGES`` changes × clients, with 20 boards open; baseline:
1 board, in the same run. Goal: p95 < 1 s.

Run: ``.venv/bin/python -m benchmarks andon_latency`` (needs PostgreSQL).
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import secrets
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from typing import Any

from sqlalchemy import create_engine, text

from benchmarks.table import Row, percentile, print_table
from ebr import schema
from ebr.bootstrap import Services, build_services
from ebr.core.config import load_settings
from ebr.core.db import unit_of_work

SERVER = os.environ.get("EBR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
CHANGES = int(os.environ.get("EBR_BENCH_ANDON_CHANGES", "15"))
PASSWORD = "Andon-Board-2026!"
AREA, UNIT = "Formulation", "R-101"
_STATE = re.compile(rf'data-unit="{UNIT}" data-state="([a-z_]+)"')
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


class Board(threading.Thread):
    """One TV: a signed-in session reading the area's SSE stream; notes when each state arrives."""

    def __init__(self, base: str, user: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        self.user = user
        self.seen: list[tuple[float, str]] = []
        self.stop = threading.Event()
        self.ready = threading.Event()

    def log_in(self) -> None:
        page = self.opener.open(f"{self.base}/auth/login", timeout=10).read().decode()
        found = _TOKEN.search(page)
        assert found, "no CSRF token on the login page"
        data = urllib.parse.urlencode({"user_id": self.user, "password": PASSWORD, "csrf_token": found.group(1)})
        self.opener.open(f"{self.base}/auth/login", data=data.encode(), timeout=10).read()

    def run(self) -> None:
        self.log_in()
        while not self.stop.is_set():
            with self.opener.open(f"{self.base}/andon/{AREA}/stream", timeout=30) as stream:
                event: list[str] = []
                for raw in stream:
                    line = raw.decode()
                    if line.startswith("data:"):
                        event.append(line)
                    elif line == "\n" and event:
                        found = _STATE.search("".join(event))
                        if found:
                            self.seen.append((time.monotonic(), found.group(1)))
                            self.ready.set()
                        event = []
                    if self.stop.is_set():
                        return

    def arrival(self, state: str, after: float) -> float | None:
        for at, seen in list(self.seen):
            if at >= after and seen == state:
                return at
        return None


def prepare(url: str, users: int) -> Services:
    settings = load_settings({}, database_url=url, secret_key="bench", secure_cookies=False)
    services = build_services(settings)
    schema.upgrade(services.engine)
    with unit_of_work(services.session_factory) as session:
        services.equipment.ensure_area(session, actor="admin", name=AREA)
        services.equipment.register(session, actor="admin", tag=UNIT, kind="unit", name=UNIT, area=AREA, reason="b")
        for n in range(users):
            services.users.create(session, actor="system:bench", user_id=f"tv{n:02d}", full_name=f"TV {n}",
                                  roles=["operator"], password=PASSWORD, must_change=False)  # fmt: skip
    return services


def change(services: Services, state: str) -> float:
    """Change the unit's state as the runtime does (an audited event); the commit's time."""
    from audit.chain import Entity

    action = "equipment.alarm.raised" if state == "down" else "equipment.phase.running"
    with unit_of_work(services.session_factory) as session:
        services.audit.record(
            session, actor="system:runtime", action=action, entity=Entity("alarm" if state == "down" else "phase", "x"),
            after={"unit": UNIT, "condition": "high_level"}, reason="bench",
        )  # fmt: skip
    return time.monotonic()


def measure(services: Services, base: str, boards: int) -> list[float]:
    clients = [Board(base, f"tv{n:02d}") for n in range(boards)]
    for client in clients:
        client.start()
    for client in clients:
        if not client.ready.wait(30):
            raise RuntimeError("a board did not receive its first paint within 30 s")
    latencies: list[float] = []
    for k in range(CHANGES):
        state = "down" if k % 2 == 0 else "running"
        committed = change(services, state)
        deadline = committed + 5
        waiting = list(clients)
        while waiting and time.monotonic() < deadline:
            time.sleep(0.005)
            for client in list(waiting):
                at = client.arrival(state, committed)
                if at is not None:
                    latencies.append(at - committed)
                    waiting.remove(client)
        latencies += [5.0] * len(waiting)  # not seen within 5 s: counted as 5 s
        time.sleep(0.3)
    for client in clients:
        client.stop.set()
    return latencies


def start_gunicorn(url: str, port: int) -> subprocess.Popen[bytes]:
    env = os.environ | {"EBR_DATABASE_URL": url, "EBR_SECRET_KEY": secrets.token_hex(16), "EBR_SECURE_COOKIES": "false",
                        "EBR_LOGIN_LIMIT_PER_CLIENT": "500/600"}  # fmt: skip
    command = [sys.executable, "-m", "gunicorn", "-w", "2", "-k", "gthread", "--threads", "24",
               "-b", f"127.0.0.1:{port}", "--log-level", "warning", "ebr.app:create_app()"]  # fmt: skip
    process = subprocess.Popen(command, env=env)
    for _ in range(150):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("gunicorn did not start")


def main() -> None:
    admin = create_engine(SERVER, isolation_level="AUTOCOMMIT")
    name = f"ebr_bench_andon_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = SERVER.rsplit("/", 1)[0] + f"/{name}"
    port = 18000 + secrets.randbelow(2000)
    results: dict[int, Any] = {}
    try:
        services = prepare(url, 20)
        server = start_gunicorn(url, port)
        try:
            for boards in (1, 20):
                results[boards] = measure(services, f"http://127.0.0.1:{port}", boards)
        finally:
            server.terminate()
            server.wait(timeout=30)
            services.close()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    rows = [
        Row("state change → board, p50, 20 boards", percentile(results[20], 50), percentile(results[1], 50), "s"),
        Row(
            "state change → board, p95, 20 boards",
            percentile(results[20], 95),
            percentile(results[1], 95),
            "s",
            "< 1 s",
        ),
    ]
    print_table(
        f"Andon board latency ({CHANGES} changes, SSE over gunicorn, PostgreSQL)", rows, baseline_name="1 board"
    )


if __name__ == "__main__":
    main()
