"""`ebr plant`, `ebr runtime` and `ebr simulate`: the plant configuration, runtime and simulator."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import urllib.error
import urllib.request
from importlib import resources
from pathlib import Path
from typing import Any

import click

from ebr.cli.context import services
from ebr.core.db import unit_of_work
from ebr.schema import require_head
from equipment.check import check_plant
from equipment.config import PlantConfig, load_plant_config


def example_config() -> Path:
    """The shipped example configuration (the simulator's plant)."""
    return Path(str(resources.files("equipment") / "examples" / "plant.yaml"))


def _config(path: Path | None) -> PlantConfig:
    if path is None:
        path = services().settings.equipment_config or example_config()
    return load_plant_config(path)


@click.group("plant")
def group() -> None:
    """Plant configuration and equipment connections."""


@group.command("check")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--timeout", default=10.0, show_default=True, help="Seconds to wait for each endpoint.")
def check(file: Path, timeout: float) -> None:
    """Validate FILE, connect to every endpoint and report every tag read or not."""
    config = load_plant_config(file)
    for library in ("asyncua", "pymodbus"):  # their connection chatter would bury the report
        logging.getLogger(library).setLevel(logging.CRITICAL)
    results = asyncio.run(check_plant(config, timeout=timeout))
    for r in results:
        if r.ok and r.value is not None:
            unit = config.tags[r.tag].unit
            click.echo(f"ok    {r.tag:<24} {r.endpoint:<10} {r.value.value!s:>12} {unit:<6} {r.value.status}")
        else:
            click.echo(f"FAIL  {r.tag:<24} {r.endpoint:<10} {r.problem}")
    bad = sum(not r.ok for r in results)
    click.echo(f"{len(results) - bad} of {len(results)} tags readable")
    if bad:
        raise SystemExit(1)


@group.command("sync")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False), required=False)
@click.option("--actor", required=True, help="User id recorded as having registered the equipment.")
def sync(file: Path | None, actor: str) -> None:
    """Register the equipment of FILE (default: the configured plant) that the database does not know yet."""
    config = _config(file)
    built = services()
    require_head(built.engine)
    with unit_of_work(built.session_factory) as session:
        added = built.equipment.register_from_config(session, actor=actor, config=config)
    click.echo(f"registered {len(added)} new equipment: {', '.join(added) or 'none'}")


@click.command("runtime")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False), help="Plant configuration.")
@click.option(
    "--give-up-after",
    type=click.FloatRange(min=0.1),
    default=120.0,
    show_default=True,
    help="Seconds a loop (heartbeat, readings, recording, commands) may keep failing before the runtime exits.",
)
@click.option("--metrics-port", type=click.IntRange(1, 65535), help="Serve the runtime's Prometheus metrics here.")
def runtime(config_path: Path | None, give_up_after: float, metrics_port: int | None) -> None:
    """Run the equipment runtime for one plant configuration until stopped (Ctrl-C or SIGTERM).

    Crash-only: a failure that outlasts --give-up-after ends it with one message and exit
    status 2, for systemd to restart it (docs/equipment.md, "Supervision").
    """
    from ebr.ops.roles import guard_production
    from equipment.runtime import EquipmentRuntime
    from equipment.supervision import Backoff

    config = _config(config_path)
    built = services()
    require_head(built.engine)
    guard_production(built.settings, built.engine)
    rt = EquipmentRuntime(
        config=config,
        factory=built.session_factory,
        audit=built.audit,
        clock=built.clock,
        database_url=built.settings.database_url,
        backoff=Backoff(give_up_after_s=give_up_after),
    )
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, registry=rt.supervision.registry)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        click.echo(f"equipment runtime {rt.runtime_id} for area {config.area}: {', '.join(config.endpoints)}")
        await rt.run(stop)

    asyncio.run(main())


def _control(url: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    if not url.startswith(("http://", "https://")):
        raise click.BadParameter(f"{url!r} is not an http:// URL", param_hint="--control")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url.rstrip("/") + path, data=data, method=method)  # noqa: S310 - http(s) only
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - scheme checked above
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise click.ClickException(
            f"the simulator refused {method} {path}: {exc.read().decode(errors='replace')}"
        ) from None
    except urllib.error.URLError as exc:
        raise click.ClickException(
            f"cannot reach the simulator control at {url}: {exc.reason}; is `ebr simulate` running?"
        ) from None


@click.group("simulate", invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--opcua-port", default=4840, show_default=True)
@click.option("--modbus-port", default=5020, show_default=True)
@click.option("--control-port", default=8840, show_default=True)
@click.option("--rate", default=20.0, show_default=True, help="Physics steps per second (at least 10).")
@click.option("--security", type=click.Choice(["None", "Sign", "SignAndEncrypt", "all"]), default="None")
@click.option("--cert-dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--username", help="Require this OPC UA user (with the password in EBR_SIMULATOR_PASSWORD).")
@click.pass_context
def simulate(ctx: click.Context, /, **options: Any) -> None:
    """Run the plant simulator (OPC UA plant, Modbus scale SC-01, HTTP control); subcommands control it."""
    if ctx.invoked_subcommand is not None:
        return
    from equipment.simulator.process import serve
    from equipment.simulator.server import SimulatorOptions

    if options["rate"] < 10:
        raise click.BadParameter("must be at least 10", param_hint="--rate")
    sim = SimulatorOptions(
        host=options["host"],
        opcua_port=options["opcua_port"],
        modbus_port=options["modbus_port"],
        control_port=options["control_port"],
        rate_hz=options["rate"],
        security=options["security"],
        cert_dir=options["cert_dir"],
        username=options["username"],
        password=os.environ.get("EBR_SIMULATOR_PASSWORD") if options["username"] else None,
    )
    asyncio.run(serve(sim))


DEFAULT_CONTROL = "http://127.0.0.1:8840"
CONTROL = click.option(
    "--control",
    default=None,
    help="Simulator control URL (default: the running `ebr demo`'s simulator, found in its data folder, "
    f"else {DEFAULT_CONTROL}).",
)


def control_url(control: str | None) -> str:
    """The URL given, else the running demo's simulator (EBR_DATA_DIR/demo-plant/simulator.json), else 8840."""
    if control:
        return control
    from ebr.core.config import load_settings
    from ebr.demo_plant import running_demo_control

    return running_demo_control(load_settings().data_dir) or DEFAULT_CONTROL


@simulate.command("scale")
@click.argument("weight", type=float)
@CONTROL
def scale(weight: float, control: str | None) -> None:
    """Place WEIGHT kg on scale SC-01 (0 removes everything)."""
    click.echo(json.dumps(_control(control_url(control), "POST", "/scale", {"weight": weight})))


@simulate.command("fault")
@click.argument(
    "name",
    type=click.Choice(["valve_stuck", "sensor_frozen", "sensor_bad", "leak", "watchdog_frozen", "drop_connection"]),
)
@click.option("--off", is_flag=True, help="Clear the fault.")
@click.option("--rate", default=2.0, show_default=True, help="Leak rate in L/s.")
@click.option("--seconds", default=3.0, show_default=True, help="How long a dropped connection stays refused.")
@CONTROL
def fault(name: str, off: bool, rate: float, seconds: float, control: str | None) -> None:
    """Inject (or clear with --off) a fault in the running simulator."""
    body = {"name": name, "on": not off, "rate": rate, "seconds": seconds}
    click.echo(json.dumps(_control(control_url(control), "POST", "/fault", body)))


@simulate.command("state")
@CONTROL
def state(control: str | None) -> None:
    """Print the simulator's current plant values."""
    click.echo(json.dumps(_control(control_url(control), "GET", "/state"), indent=2))


def register(main: click.Group) -> None:
    main.add_command(group)
    main.add_command(runtime)
    main.add_command(simulate)
