"""The operator's server time per step: the 27-step liquid batch's requests, in process.

The requests the tablet page sends for each step of a PCM-SOL-24 batch (the browser
run is ``tests/e2e/test_ui_liquid.py``), sent through Flask's test client to the app
on a fresh PostgreSQL database, with the plant simulator and the equipment runtime
dosing and weighing as in the plant: start the step (htmx), record values, scan,
tare and weigh, complete and sign in the dialog (with the supervisor's second
signature where the recipe asks), and after a timed hold, which the installation's
clock skips, the page reload, the login that the idle timeout asks for and the batch
page. Live streams (SSE) are left out, as in the browser figure. Each request is timed
on the wall clock and on its thread's CPU clock, and its SQL statements are counted.

The baseline, measured in the same run after the batch, is the operator's worklist
(``GET /worklist/``: routing, the session check, one query and the layout rendered):
the ratio says how many plain page views one step costs. ``GET /healthz`` is shown for
reference (it also reads the migration state and the installation's checks).
Goal: server time per step p95 < 300 ms. ``-v`` prints every request; ``--profile FILE``
writes a cProfile (CPU time) of all step requests (read it with ``python -m pstats FILE``);
``--sql PATH`` prints the SQL statements of that step's requests.

    python -m benchmarks.operator_steps [--sqlite] [-v] [--profile FILE]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import re
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import event

from benchmarks.databases import fresh_postgres
from benchmarks.table import Row, median, percentile, print_table
from ebr import demo
from ebr.app import create_app
from ebr.bootstrap import Services, build_services
from ebr.core.config import load_settings
from ebr.core.db import unit_of_work
from ebr.demo_batch import ANSWERS, QC_RESULTS, TARE_KG, LiquidBatch, SkippingClock
from ebr.execution import rules
from ebr.execution.service import Execution, build
from ebr.trail import services as audit_service
from equipment.commands import runtime_status
from equipment.simulator.launch import start_simulator
from recipes.phases import DataEntry, Dosing, Sample, SignOff, TimedHold, WeighDispense
from tests.support.plant import start_runtime

OPERATOR, SUPERVISOR = "olga", "sam"
GOAL_MS = 300.0


@dataclass
class Timing:
    """Per step: the requests sent, their wall and CPU milliseconds and SQL statements."""

    wall: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    cpu: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    sql: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    requests: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    log: list[tuple[str, str, float, float, int]] = field(default_factory=list)
    statements: int = 0
    step: str = "(batch)"


class Tablet:
    """One operator's browser as the test client: session cookie, CSRF token, htmx header."""

    def __init__(self, client: FlaskClient, timing: Timing, profile: cProfile.Profile | None, show: str) -> None:
        self.client, self.timing, self.profile, self.show = client, timing, profile, show
        self.token, self.step, self.last = "", "(batch)", ""

    def send(self, method: str, path: str, data: dict[str, str] | None = None, *, htmx: bool = True) -> str:
        headers = {"X-CSRFToken": self.token} if self.token else {}
        if htmx:
            headers["HX-Request"] = "true"
        before, wall, cpu = self.timing.statements, time.perf_counter(), time.thread_time()
        if self.profile is not None and self.step != "(batch)":
            self.profile.enable()
        response = self.client.open(path, method=method, data=data, headers=headers)
        if self.profile is not None:
            self.profile.disable()
        wall_ms, cpu_ms = (time.perf_counter() - wall) * 1000, (time.thread_time() - cpu) * 1000
        statements = self.timing.statements - before
        body = response.get_data(as_text=True)
        if response.status_code >= 500 or (response.status_code >= 400 and "refused" not in body):
            raise RuntimeError(f"{method} {path}: {response.status_code}\n{body[:2000]}")
        t, step = self.timing, self.step
        t.wall[step] += wall_ms
        t.cpu[step] += cpu_ms
        t.sql[step] += statements
        t.requests[step] += 1
        t.log.append((step, f"{method} {path} {response.status_code}", wall_ms, cpu_ms, statements))
        if step == self.show:
            print(f"-- {statements} statements: {method} {path} {response.status_code}")
        if response.status_code in (301, 302, 303):
            return self.send("GET", response.headers["Location"], htmx=False)
        self.last = body
        return body

    def log_in(self, user: str) -> None:
        page = self.send("GET", "/auth/login", htmx=False)
        self.token = _match(r'name="csrf_token" value="([^"]+)"', page)
        form = {"user_id": user, "password": demo.PASSWORD, "csrf_token": self.token}
        self.send("POST", "/auth/login", form, htmx=False)
        # A login starts a new session and with it a new CSRF token, as the next page shows.
        self.token = _match(r'"X-CSRFToken": "([^"]+)"', self.send("GET", "/worklist/", htmx=False))

    def version(self, number: str, path: str, action: str) -> str:
        """The step's version in the form of ``action`` on the page the browser shows now."""
        url = f"/batches/{number}/steps/{path}/{action}"
        return _match(re.escape(url) + r'".*?name="version" value="(\d+)"', self.last)


def _match(pattern: str, body: str) -> str:
    found = re.search(pattern, body, re.DOTALL)
    if found is None:
        raise RuntimeError(f"not on the page: {pattern}\n{body[:2000]}")
    return found.group(1)


class Operator:
    """Works one batch through its steps with the requests the tablet page sends."""

    def __init__(self, tablet: Tablet, services: Services, ex: Execution, plan: LiquidBatch, sim: Any) -> None:
        self.tablet, self.services, self.ex, self.plan, self.sim = tablet, services, ex, plan, sim
        self.holds = 0

    def run(self, number: str) -> list[str]:
        t = self.tablet
        t.send("GET", f"/batches/{number}", htmx=False)
        t.send("POST", f"/batches/{number}/start", {"csrf_token": t.token}, htmx=False)
        done: list[str] = []
        for _ in range(80):
            ready = self.plan.ready(number)
            if not ready:
                return done
            self.work(number, ready[0])
            done.append(ready[0])
        raise RuntimeError(f"batch {number} did not finish in 80 steps: {done}")

    def work(self, number: str, path: str) -> None:
        t = self.tablet
        t.step = t.timing.step = path
        with self.services.session_factory() as session:
            batch = self.ex.batch(session, number)
            phase, phase_ref = self.ex.ctx.plan(session, batch).phase(path), f"{batch.id}:{path}"
        params = phase.params
        base = f"/batches/{number}/steps/{path}"
        t.send("POST", f"{base}/start", {"version": t.version(number, path, "start")})
        if isinstance(params, Dosing):
            self.plan.dose(number, path, phase_ref)
        elif isinstance(params, WeighDispense):
            self.weigh(number, path, params)
        elif isinstance(params, TimedHold):
            self.hold(number, path, params)
        elif isinstance(params, Sample):
            self.record(number, path, {"sample_id": ANSWERS[path]["sample_id"]})
            for test, value in QC_RESULTS.get(path, {}).items():
                with unit_of_work(self.services.session_factory) as session:
                    self.ex.enter_sample_result(session, actor="quinn", ref=ANSWERS[path]["sample_id"], test=test,
                                                value=value)  # fmt: skip
        elif isinstance(params, DataEntry):
            self.record(number, path, {"value": ANSWERS[path]["value"]})
        meanings = params.meanings if isinstance(params, SignOff) else phase.signatures
        self.sign(number, path, {m: OPERATOR if m == "performed" else SUPERVISOR for m in meanings})

    def record(self, number: str, path: str, values: dict[str, str]) -> None:
        form = {**values, "version": self.tablet.version(number, path, "record")}
        body = self.tablet.send("POST", f"/batches/{number}/steps/{path}/record", form)
        if "Recorded." not in body:
            raise RuntimeError(f"{path}: not recorded\n{body[:2000]}")

    def weigh(self, number: str, path: str, params: WeighDispense) -> None:
        self.record(number, path, {"container": f"C-{params.material}-1"})
        self.sim.place_weight(float(TARE_KG))
        self.plan.settle()
        self.record(number, path, {"tare": "yes"})
        with self.services.session_factory() as session:
            step = self.ex.ctx.step(session, self.ex.batch(session, number), path)
            target = Decimal(next(e.value for e in session.scalars(self.plan.entries(step.id)) if e.name == "target"))
        self.sim.place_weight(float(TARE_KG + target))
        self.plan.settle()
        self.record(number, path, {"weigh": "yes"})
        self.sim.place_weight(0.0)

    def hold(self, number: str, path: str, params: TimedHold) -> None:
        if not self.holds:  # once: signing before the minimum time is refused, on screen
            self.sign(number, path, {"performed": OPERATOR}, refused="completing early is refused")
        self.holds += 1
        self.plan.clock.skip(rules.hold_seconds(Decimal(str(params.min_duration)), params.unit))
        deadline = time.monotonic() + 30
        while not self.runtime_alive():
            if time.monotonic() > deadline:
                raise RuntimeError("the runtime's heartbeat did not come back after the clock moved")
            time.sleep(0.25)
        # Half an hour without a click ends the session: the reload shows the login form, and
        # logging in there brings the operator back to the batch (its ``next``).
        t = self.tablet
        page = t.send("GET", f"/batches/{number}", htmx=False)
        form = {"user_id": OPERATOR, "password": demo.PASSWORD, "next": _match(r'name="next" value="([^"]*)"', page)}
        form["csrf_token"] = t.token = _match(r'name="csrf_token" value="([^"]+)"', page)
        page = t.send("POST", "/auth/login", form, htmx=False)
        # A login starts a new session and with it a new CSRF token, as the batch page shows.
        t.token = _match(r'"X-CSRFToken": "([^"]+)"', page)

    def runtime_alive(self) -> bool:
        with self.services.session_factory() as session:
            return runtime_status(session, now=self.services.clock.now()).connected

    def sign(self, number: str, path: str, signers: dict[str, str], refused: str | None = None) -> None:
        form: dict[str, Any] = {"version": self.tablet.version(number, path, "complete"), "meaning": list(signers)}
        for meaning, user in signers.items():
            form[f"sig_{meaning}_user"], form[f"sig_{meaning}_password"] = user, demo.PASSWORD
        body = self.tablet.send("POST", f"/batches/{number}/steps/{path}/complete", form)
        expected = refused or "Step completed and signed."
        if expected not in body:
            raise RuntimeError(f"{path}: expected {expected!r}\n{body[:3000]}")


@contextmanager
def database(sqlite: bool, tmp: Path) -> Iterator[str]:
    if sqlite:
        yield f"sqlite:///{tmp / 'bench.sqlite'}"
        return
    with fresh_postgres("ebr_bench_op") as url:
        yield url


def measure(
    url: str, tmp: Path, profile: cProfile.Profile | None, show: str = ""
) -> tuple[Timing, dict[str, list[float]]]:
    from ebr import schema

    clock = SkippingClock(-demo.HOLD_ALLOWANCE)
    settings = load_settings({"EBR_DATA_DIR": str(tmp / "data")}, database_url=url, secret_key="bench",
                             secure_cookies=False)  # fmt: skip
    services = build_services(settings, clock=clock)
    timing = Timing()

    requests_thread = threading.get_ident()  # the equipment runtime shares the engine: not its statements

    @event.listens_for(services.engine, "before_cursor_execute")
    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if threading.get_ident() != requests_thread:
            return
        timing.statements += 1
        if show and timing.step == show:
            print(f"SQL {' '.join(statement.split())[:300]}")

    floor: dict[str, list[float]] = {"/worklist/": [], "/healthz": []}
    try:
        schema.upgrade(services.engine)
        with start_simulator(tmp) as simulator:
            audit_service.ensure_system_key(services)
            demo.create_people(services)
            demo.register_plant(services, simulator.config_path)
            ex = build(services)
            demo.receive_materials(ex)(services)
            demo.approve_examples(services)
            with unit_of_work(services.session_factory) as session:
                batch = ex.create_batch(session, actor=SUPERVISOR, recipe="PCM-SOL-24", version=None, size="1000",
                                        order="PO-BENCH-1")  # fmt: skip
                number = batch.number
            with unit_of_work(services.session_factory) as session:
                ex.release_to_floor(session, actor=SUPERVISOR, ref=number)
            with start_runtime(services, simulator.config_path) as runtime:
                runtime.wait_connected()
                app = create_app(services=services)
                tablet = Tablet(app.test_client(), timing, profile, show)
                plan = LiquidBatch(
                    services, ex, password=demo.PASSWORD, people={"performed": OPERATOR, "verified": SUPERVISOR,
                    "reviewed": "quinn", "approved": "queenie"}, place_weight=simulator.place_weight, clock=clock,
                )  # fmt: skip
                tablet.log_in(OPERATOR)
                Operator(tablet, services, ex, plan, simulator).run(number)
                for _ in range(30):
                    for path, times in floor.items():
                        start = time.perf_counter()
                        tablet.client.get(path)
                        times.append((time.perf_counter() - start) * 1000)
    finally:
        services.close()
    return timing, floor


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every request")
    parser.add_argument("--profile", type=Path, help="write a cProfile (CPU time) of the step requests here")
    parser.add_argument("--sql", default="", metavar="PATH", help="print the SQL of this step's requests")
    args = parser.parse_args(argv)
    # On the thread's CPU clock: where the work goes, not how long a busy machine made it wait.
    profile = cProfile.Profile(time.thread_time) if args.profile else None
    with tempfile.TemporaryDirectory() as tmp, database(args.sqlite, Path(tmp)) as url:
        timing, floor = measure(url, Path(tmp), profile, args.sql)
    if profile is not None:
        profile.dump_stats(args.profile)
    steps = sorted((s for s in timing.wall if s != "(batch)"), key=_order)
    if args.verbose:
        for step, line, wall_ms, cpu_ms, sql in timing.log:
            print(f"{step:<14}{wall_ms:>9.1f}{cpu_ms:>9.1f}{sql:>5}  {line}")
    print(f"\n{'step':<14}{'requests':>9}{'wall ms':>9}{'cpu ms':>8}{'sql':>6}")
    for s in steps:
        print(f"{s:<14}{timing.requests[s]:>9}{timing.wall[s]:>9.1f}{timing.cpu[s]:>8.1f}{timing.sql[s]:>6}")
    walls, cpus = [timing.wall[s] for s in steps], [timing.cpu[s] for s in steps]
    base = median(floor["/worklist/"])
    database_name = "SQLite" if args.sqlite else "PostgreSQL"
    print_table(
        f"Operator's server time per step, liquid batch ({len(steps)} steps, {database_name}, in process)",
        [
            Row("server time per step, p50", percentile(walls, 50), base, "ms", ""),
            Row("server time per step, p95", percentile(walls, 95), base, "ms", f"< {GOAL_MS:.0f} ms"),
            Row("server time per step, max", max(walls), base, "ms", ""),
            Row("CPU time per step, p50", percentile(cpus, 50), base, "ms", ""),
            Row("CPU time per step, p95", percentile(cpus, 95), base, "ms", ""),
            Row("GET /healthz, median (reference)", median(floor["/healthz"]), base, "ms", ""),
        ],
        baseline_name="GET /worklist/",
    )
    print_kinds(timing)
    print(f"\nload average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


def print_kinds(timing: Timing) -> None:
    """Medians per kind of request: a step's start, record and complete, and the pages around a hold."""
    kinds: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
    for step, line, wall, cpu, sql in timing.log:
        if step == "(batch)":
            continue
        method, path, status = line.split()
        action = path.rsplit("/", 1)[1] if "/steps/" in path and method == "POST" else "page or login"
        kinds[f"{action} ({status})" if status != "200" and action != "page or login" else action].append(
            (wall, cpu, sql)
        )
    print(f"\n{'request':<20}{'count':>6}{'wall ms':>9}{'cpu ms':>8}{'sql':>6}   (medians)")
    for kind, rows in sorted(kinds.items()):
        print(
            f"{kind:<20}{len(rows):>6}{median([r[0] for r in rows]):>9.1f}{median([r[1] for r in rows]):>8.1f}"
            f"{median([r[2] for r in rows]):>6.0f}"
        )


def _order(path: str) -> list[Any]:
    return [int(x) if x.isdigit() else x for x in path.replace("UP", "").split(".")]


if __name__ == "__main__":
    main()
