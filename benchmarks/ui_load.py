"""Web UI under load: simulated operators completing steps against gunicorn + PostgreSQL.

Each operator logs in through the login form (CSRF token and session cookie like a
browser), opens its own batch and works through its steps exactly as the execution
page does with htmx: start the step, record the value, complete and sign. Loopback
only, bounded (``EBR_BENCH_UI_OPERATORS`` × ``EBR_BENCH_UI_STEPS``). Reported:
requests/s, p50/p95/p99 of the step-submit request (recording a value) and of the
signed completion (which runs the signing ceremony: password check and key
unwrap with Argon2id), and errors. Operators pause ``EBR_BENCH_UI_THINK_MS``
(default 3 s, ±50 %) between submissions, as people do; set 0 for the stress figure.
The baseline is ``GET /healthz`` under the same
load, measured in the same run (the stack's floor: routing, a database round trip).
Goal: step submit p95 < 150 ms with 0 errors on a 2-core machine.

Throttling of failed logins is on (it counts failures only, so the operators' logins
never trip it; the per-client limit is raised to ``EBR_BENCH_UI_CLIENT_LIMIT`` because
every simulated tablet comes from 127.0.0.1). After the load, ``EBR_BENCH_UI_PROBES``
failed logins with unknown ids and as many with known ids (wrong password) are timed
in turn: their medians must be within ±20 % (nothing tells who exists).
"""

from __future__ import annotations

import http.cookiejar
import os
import random
import re
import secrets
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import create_engine, text

from benchmarks.table import Row, percentile, print_table
from ebr import schema
from ebr.bootstrap import build_services
from ebr.core.config import load_settings
from ebr.core.db import unit_of_work
from ebr.execution.service import build
from recipes.authoring import parse_document

SERVER = os.environ.get("EBR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
OPERATORS = int(os.environ.get("EBR_BENCH_UI_OPERATORS", "50"))
STEPS = int(os.environ.get("EBR_BENCH_UI_STEPS", "4"))
WORKERS = os.environ.get("EBR_BENCH_UI_WORKERS", "4")
# An operator reads, weighs and types between two submissions; 0 gives the no-pause stress figure.
THINK_MS = int(os.environ.get("EBR_BENCH_UI_THINK_MS", "3000"))
PASSWORD = "Load-Test-Pass-42"
PROBES = int(os.environ.get("EBR_BENCH_UI_PROBES", "50"))
CLIENT_LIMIT = os.environ.get("EBR_BENCH_UI_CLIENT_LIMIT", "500/600")


def recipe(steps: int) -> Any:
    phases = [
        {"id": f"PH{i}", "name": f"Reading {i}", "type": "data_entry", "kind": "numeric", "prompt": f"Reading {i}",
         "unit": "kg", "low": 0, "high": 100}
        for i in range(1, steps + 1)
    ]  # fmt: skip
    return parse_document(
        {
            "name": "LOAD",
            "title": "Load test",
            "product": {"code": "FG-LOAD", "name": "Load"},
            "batch_size": {"nominal": 100, "min": 1, "max": 1000, "unit": "kg"},
            "unit_procedures": [
                {
                    "id": "UP1",
                    "name": "Work",
                    "equipment": {"unit_class": "reactor"},
                    "operations": [{"id": "OP1", "name": "Readings", "phases": phases}],
                }
            ],
        },
        source="benchmark",
    )


def prepare(url: str) -> dict[str, str]:
    """Users, and one released batch per operator; returns operator → batch number."""
    settings = load_settings({}, database_url=url, secret_key="bench", secure_cookies=False)
    services = build_services(settings)
    schema.upgrade(services.engine)
    execution = build(services)
    batches = {}
    with unit_of_work(services.session_factory) as session:
        services.users.create(session, actor="system:bench", user_id="sup", full_name="Sup", roles=["supervisor"],
                              password=PASSWORD, must_change=False)  # fmt: skip
        for n in range(OPERATORS):
            user = f"op{n:02d}"
            services.users.create(session, actor="system:bench", user_id=user, full_name=f"Operator {n}",
                                  roles=["operator"], password=PASSWORD, must_change=False)  # fmt: skip
            services.users.accept_accountability(session, user_id=user)
    master = recipe(STEPS)
    for n in range(OPERATORS):
        with unit_of_work(services.session_factory) as session:
            batch = execution.create_from_recipe(session, actor="sup", master=master, version="1", size="100",
                                                 order=f"PO-{n}")  # fmt: skip
            execution.release_to_floor(session, actor="sup", ref=batch.number)
            batches[f"op{n:02d}"] = batch.number
    services.close()
    return batches


@dataclass
class Stats:
    submit: list[float] = field(default_factory=list)
    complete: list[float] = field(default_factory=list)
    login_known: list[float] = field(default_factory=list)
    login_unknown: list[float] = field(default_factory=list)
    health: list[float] = field(default_factory=list)
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Operator:
    """One browser: cookies, CSRF token, htmx headers."""

    def __init__(self, base: str, user: str, stats: Stats) -> None:
        self.base, self.user, self.stats = base, user, stats
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        self.token = ""

    def call(self, method: str, path: str, data: dict[str, str] | None = None, htmx: bool = True) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(self.base + path, data=body, method=method)  # noqa: S310 - loopback
        if htmx:
            request.add_header("HX-Request", "true")
        if self.token:
            request.add_header("X-CSRFToken", self.token)
        try:
            with self.opener.open(request, timeout=60) as response:
                status, text_ = response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            status, text_ = exc.code, exc.read().decode(errors="replace")
        with self.stats.lock:
            self.stats.requests += 1
        return status, text_

    def timed(self, bucket: list[float], method: str, path: str, data: dict[str, str] | None = None) -> str:
        start = time.perf_counter()
        status, body = self.call(method, path, data)
        elapsed = (time.perf_counter() - start) * 1000
        with self.stats.lock:
            bucket.append(elapsed)
            if status >= 400 or ('role="alert"' in body and "banner-bad" in body):
                self.stats.errors.append(f"{self.user} {method} {path}: {status}")
        return body

    def think(self) -> None:
        if THINK_MS:
            time.sleep(THINK_MS / 1000 * (0.5 + random.random()))

    def log_in(self) -> None:
        _status, page = self.call("GET", "/auth/login", htmx=False)
        self.token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        self.call("POST", "/auth/login", {"user_id": self.user, "password": PASSWORD, "csrf_token": self.token}, False)
        # A login starts a new session and with it a new CSRF token, as a browser would see on the next page.
        _status, page = self.call("GET", "/worklist/", htmx=False)
        self.token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)  # type: ignore[union-attr]

    def work(self, number: str) -> None:
        self.log_in()
        self.call("POST", f"/batches/{number}/start", {"csrf_token": self.token}, htmx=False)
        for i in range(1, STEPS + 1):
            path = f"UP1.OP1.PH{i}"
            base = f"/batches/{number}/steps/{path}"
            self.call("POST", f"{base}/start", {})
            self.think()
            self.timed(self.stats.submit, "POST", f"{base}/record", {"value": f"{20 + i}.5"})
            signature = {"meaning": "performed", "sig_performed_user": self.user, "sig_performed_password": PASSWORD}
            self.think()
            self.timed(self.stats.complete, "POST", f"{base}/complete", signature)
            self.timed(self.stats.health, "GET", "/healthz")


def probe_logins(base: str, stats: Stats, operators: list[str]) -> None:
    """Failed logins, an unknown id and a known one (wrong password) in turn, timed."""
    browser = Operator(base, "probe", stats)
    _status, page = browser.call("GET", "/auth/login", htmx=False)
    browser.token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    for n in range(PROBES):
        pair = [(stats.login_unknown, f"nobody{n:03d}"), (stats.login_known, operators[n % len(operators)])]
        for bucket, user in pair if n % 2 else pair[::-1]:  # alternate which goes first
            form = {"user_id": user, "password": "Wrong-Guess-000", "csrf_token": browser.token}
            start = time.perf_counter()
            status, _body = browser.call("POST", "/auth/login", form, htmx=False)
            bucket.append((time.perf_counter() - start) * 1000)
            if status != 401:
                stats.errors.append(f"probe login {user}: {status} (expected 401)")


def run(base: str, batches: dict[str, str]) -> tuple[Stats, float]:
    stats = Stats()
    threads = [
        threading.Thread(target=Operator(base, user, stats).work, args=(number,)) for user, number in batches.items()
    ]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    probe_logins(base, stats, sorted(batches))
    return stats, seconds


def start_gunicorn(url: str, port: int) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "EBR_DATABASE_URL": url,
        "EBR_SECRET_KEY": secrets.token_hex(16),
        "EBR_SECURE_COOKIES": "false",
        "EBR_LOGIN_LIMIT_PER_CLIENT": CLIENT_LIMIT,  # every simulated tablet is 127.0.0.1
    }
    command = [sys.executable, "-m", "gunicorn", "-w", WORKERS, "-k", "gthread", "--threads", "8",
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
    name = f"ebr_bench_ui_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = SERVER.rsplit("/", 1)[0] + f"/{name}"
    port = 18000 + secrets.randbelow(2000)
    try:
        batches = prepare(url)
        server = start_gunicorn(url, port)
        try:
            stats, seconds = run(f"http://127.0.0.1:{port}", batches)
        finally:
            server.terminate()
            server.wait(timeout=30)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    report(stats, seconds)


def report(stats: Stats, seconds: float) -> None:
    health = stats.health
    rows = [
        Row("requests/s (all requests)", stats.requests / seconds, stats.requests / seconds, "r/s"),
        Row("step submit (record value) p50", percentile(stats.submit, 50), percentile(health, 50), "ms"),
        Row("step submit (record value) p95", percentile(stats.submit, 95), percentile(health, 95), "ms", "< 150 ms"),
        Row("step submit (record value) p99", percentile(stats.submit, 99), percentile(health, 99), "ms"),
        Row("complete + sign (Argon2id) p50", percentile(stats.complete, 50), percentile(health, 50), "ms"),
        Row(
            "complete + sign (Argon2id) p95",
            percentile(stats.complete, 95),
            percentile(health, 95),
            "ms",
            "< 300 ms",
        ),
        Row("failed login, known id (median)", percentile(stats.login_known, 50), percentile(health, 50), "ms"),
        Row(
            "failed login, unknown id (median)",
            percentile(stats.login_unknown, 50),
            percentile(health, 50),
            "ms",
            "within ±20 % of known",
        ),
        Row("errors", len(stats.errors), 0, "", "0"),
    ]
    title = (
        f"Web UI load: {OPERATORS} operators × {STEPS} steps, think time ~{THINK_MS} ms, "
        f"gunicorn {WORKERS}×8 threads, PostgreSQL"
    )
    print_table(title, rows, baseline_name="GET /healthz")
    for error in stats.errors[:10]:
        print("error:", error)


if __name__ == "__main__":
    main()
