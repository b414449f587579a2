"""``ebr demo``: a working plant at once — demo users, plant, materials, approved recipes,
and one batch of the liquid example really executed, reviewed and released.

``prepare`` builds the demo database (idempotent: a prepared database is left as it
is); ``serve`` starts the simulator, the equipment runtime and the web app and
prints the URL and the logins. ``ebr demo --setup-only`` runs ``prepare`` only.

The preparation runs on a clock set back by the length of the example's timed
holds, which it then skips: the records read like a real batch and the demo's
later events (on the system clock) still come after them.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from ebr.bootstrap import Services, build_services
from ebr.core.config import Settings
from ebr.core.db import unit_of_work
from ebr.demo_batch import LiquidBatch, SkippingClock
from ebr.demo_plant import Simulator, start_runtime
from ebr.execution import review
from ebr.execution.models import Batch
from ebr.execution.service import Execution, build
from ebr.materials.models import Material
from ebr.materials.services import Credentials
from ebr.ops.records import verify_records
from ebr.review import services as release
from ebr.setup import initialize
from ebr.trail import services as audit_service
from equipment.config import load_plant_config

PASSWORD = "Demo-Plant-2026!"  # noqa: S105 - the demo's published password, printed at start
EXAMPLES = Path(__file__).resolve().parents[1] / "recipes" / "examples"
LIQUID = "paracetamol-oral-solution.yaml"
# user id, printed name, roles
USERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("olga", "Olga Operator", ("operator",)),
    ("otto", "Otto Operator", ("operator",)),
    ("sam", "Sam Supervisor", ("supervisor",)),
    ("quinn", "Quinn QA", ("qa",)),
    ("queenie", "Queenie QA", ("qa",)),
    ("alex", "Alex Auditor", ("auditor",)),
    ("rita", "Rita Recipe Author", ("recipe_author",)),
    ("ray", "Ray Recipe Approver", ("recipe_approver",)),
    ("ada", "Ada Admin", ("admin",)),
)
# material code, unit, lot quantity, potency
MATERIALS = (
    ("RM-PW", "L", "5000", None),
    ("RM-PCM", "kg", "100", "99.5"),
    ("RM-NABZ", "kg", "20", None),
    ("RM-SUCR", "kg", "20", None),
    ("RM-CITR", "kg", "20", None),
)
HOLD_ALLOWANCE = dt.timedelta(hours=2)
Say = Callable[[str], None]


@dataclass(frozen=True)
class DemoState:
    """What the demo prepared: the executed batch (if any)."""

    batch: str | None


def _sig(user: str, meaning: str) -> Credentials:
    return Credentials(user_id=user, password=PASSWORD, meaning=meaning)


def create_people(services: Services) -> None:
    """The demo users of :data:`USERS`, password :data:`PASSWORD`, accountability accepted."""
    with unit_of_work(services.session_factory) as session:
        for user_id, name, roles in USERS:
            services.users.create(
                session, actor="system:demo", user_id=user_id, full_name=name, roles=roles, password=PASSWORD,
                must_change=False,
            )  # fmt: skip
            services.users.accept_accountability(session, user_id=user_id)


def register_plant(services: Services, config_path: Path) -> None:
    """Register the plant of ``config_path``, clean every unit and calibrate what needs it."""
    equipment = services.equipment
    with unit_of_work(services.session_factory) as session:
        tags = equipment.register_from_config(session, actor="ada", config=load_plant_config(config_path))
        for tag in tags:
            eq = equipment.get(session, tag)
            equipment.record_cleaning(session, actor="olga", unit=tag, method="SOP-CLN-001 (demo)")
            if eq.requires_calibration:
                equipment.record_calibration(session, actor="sam", unit=tag, passed=True, certificate="CAL-DEMO-1")


def receive_materials(execution: Execution) -> Callable[[Services], None]:
    """A step that receives and releases one lot (one container ``C-<code>-1``) of each material."""

    def receive(services: Services) -> None:
        materials = execution.materials
        with unit_of_work(services.session_factory) as session:
            for code, unit, quantity, potency in MATERIALS:
                if session.get(Material, code) is None:
                    materials.create_material(session, actor="quinn", code=code, name=code, unit=unit)
                lot = f"{code}-L001"
                materials.receive_lot(
                    session, actor="quinn", material=code, lot_number=lot, quantity=Decimal(quantity),
                    expires_on=dt.date(2030, 12, 31), potency=potency, containers={f"C-{code}-1": Decimal(quantity)},
                )  # fmt: skip
                materials.change_status(
                    session, actor="quinn", lot_number=lot, status="released", reason="demo: tested OK",
                    signer=_sig("quinn", "released"),
                )  # fmt: skip

    return receive


def approve_examples(services: Services) -> None:
    """Import the example recipes (rita), sign them authored (rita) and approved (ray)."""
    recipes = services.recipes
    for path in sorted(EXAMPLES.glob("*.yaml")):
        with unit_of_work(services.session_factory) as session:
            rows = recipes.import_text(session, actor="rita", data=path.read_text(encoding="utf-8"), source=path.name)
        for row in rows:
            ref = f"{row.name}@{row.version}"
            with unit_of_work(services.session_factory) as session:
                recipes.submit_for_review(session, ref=ref, user_id="rita", password=PASSWORD)
            with unit_of_work(services.session_factory) as session:
                recipes.approve(session, ref=ref, user_id="ray", password=PASSWORD)


def _liquid_batch(services: Services, execution: Execution, simulator: Simulator, clock: SkippingClock) -> str:
    with unit_of_work(services.session_factory) as session:
        batch = execution.create_batch(
            session, actor="sam", recipe="PCM-SOL-24", version=None, size="1000", order="PO-DEMO-0001"
        )
        number = batch.number
    with unit_of_work(services.session_factory) as session:
        execution.release_to_floor(session, actor="sam", ref=number)
    runner = LiquidBatch(
        services,
        execution,
        password=PASSWORD,
        people={"performed": "olga", "verified": "sam", "witnessed": "sam", "reviewed": "quinn", "approved": "queenie"},
        place_weight=simulator.place_weight,
        clock=clock,
    )
    runner.run(number)
    runner.close_deviations(number, {"verified": "sam", "reviewed": "quinn", "approved": "queenie"})
    with services.session_factory() as session:
        keys = [item.key for item in review.exceptions(session, execution.batch(session, number))]
    for key in keys:
        with unit_of_work(services.session_factory) as session:
            release.disposition(
                session, execution.ctx, actor="quinn", ref=number, key=key, comment="Reviewed: acceptable (demo)."
            )
    for user, decision in (("quinn", "reviewed"), ("queenie", "released")):
        with unit_of_work(services.session_factory) as session:
            release.decide(
                session, execution.ctx, actor=user, ref=number, decision=decision, signature=_sig(user, decision)
            )
    return number


def _next_batch(services: Services, execution: Execution) -> str:
    """Clean what the executed batch used and release a second batch of the liquid example."""
    equipment = services.equipment
    with unit_of_work(services.session_factory) as session:
        for eq in equipment.all(session):
            if eq.status == "dirty":
                equipment.record_cleaning(session, actor="olga", unit=eq.tag, method="SOP-CLN-001 (demo)")
        batch = execution.create_batch(
            session, actor="sam", recipe="PCM-SOL-24", version=None, size="1000", order="PO-DEMO-0002"
        )
        number = batch.number
    with unit_of_work(services.session_factory) as session:
        execution.release_to_floor(session, actor="sam", ref=number)
    return number


def already_prepared(services: Services) -> bool:
    """True when the demo users exist (the database was prepared before)."""
    with services.session_factory() as session:
        from signatures.models import UserAccount

        return session.get(UserAccount, "olga") is not None


def prepare(settings: Settings, *, say: Say = print) -> DemoState:
    """Prepare the demo database of ``settings`` (a no-op when it is prepared already)."""
    clock = SkippingClock(-HOLD_ALLOWANCE)
    services = build_services(settings, clock=clock)
    try:
        for message in initialize(services):
            say(message)
        if already_prepared(services):
            say("demo database already prepared")
            return DemoState(_latest_batch(services))
        execution = build(services)
        work_dir = settings.data_dir / "demo-plant"
        work_dir.mkdir(parents=True, exist_ok=True)
        simulator = Simulator(work_dir).start()
        try:
            for label, step in (
                ("demo users", create_people),
                ("plant registered, cleaned and calibrated", lambda s: register_plant(s, simulator.config_path)),
                ("materials received and released", receive_materials(execution)),
                ("example recipes imported, authored and approved", approve_examples),
            ):
                step(services)
                say(label)
            runtime = start_runtime(services, simulator.config_path)
            try:
                say("executing one batch of the liquid example against the simulated plant…")
                number = _liquid_batch(services, execution, simulator, clock)
            finally:
                runtime.stop()
        finally:
            simulator.stop()
        say(f"batch {number} executed, reviewed and released")
        say(f"batch {_next_batch(services, execution)} released to the floor for you to execute")
        return DemoState(number)
    finally:
        services.close()


def _latest_batch(services: Services) -> str | None:
    with services.session_factory() as session:
        return session.scalars(select(Batch.number).order_by(Batch.created_at.desc()).limit(1)).first()


def logins() -> list[str]:
    """The demo logins, one line per user."""
    return [f"  {user_id:<8} {', '.join(roles):<16} {name}" for user_id, name, roles in USERS]


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def serve(settings: Settings, *, host: str, port: int, say: Say = print) -> None:
    """Prepare (if needed), then run the simulator, the equipment runtime and the web app until Ctrl-C."""
    from ebr.app import create_app
    from ebr.jobs.definitions import builtin_jobs
    from ebr.jobs.scheduler import start_in_background

    state = prepare(settings, say=say)
    # SIGTERM (systemd, docker, kill) ends the demo like Ctrl-C: the simulator child is stopped too.
    signal.signal(signal.SIGTERM, _interrupt)
    services = build_services(settings)
    # As the hourly audit_verify job would: the chain's and the records' status on /healthz and the audit
    # pages is known at once.
    report = audit_service.verify_live(services, actor="system:demo")
    say(f"audit chain {'intact' if report.ok else 'BROKEN'}: {report.events_checked} events verified")
    records = verify_records(services, actor="system:demo")
    say(f"records: {records.rows} rows of {records.tables} GMP tables, {len(records.findings)} differ from the trail")
    simulator = Simulator(settings.data_dir / "demo-plant").start()
    runtime = start_runtime(services, simulator.config_path)
    # The scheduled jobs (ebr.jobs.definitions: chain verification, batch sync, expiries, calibration due,
    # idle sessions) run in this process too, so the demo's /healthz shows the scheduler alive.
    scheduler = start_in_background(services, builtin_jobs(os.environ))
    try:
        app = create_app(services=services)
        ports = f"OPC UA {simulator.opcua_port}, Modbus {simulator.modbus_port}, control {simulator.control_port}"
        say(f"plant simulator: {ports}")
        say(f"EBR demo: http://{host}:{port}/   (every demo user's password: {PASSWORD})")
        for line in logins():
            say(line)
        if state.batch:
            say(f"batch {state.batch} of the liquid example was executed against the simulator; open it under Batches")
        app.run(host=host, port=port, threaded=True)
    finally:
        scheduler.shutdown(wait=False)
        runtime.stop()
        simulator.stop()
        services.close()
