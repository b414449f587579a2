"""``ebr performance …``: check the performance file, print KPIs and stops, set a unit's state.

Reading (``check``, ``oee``, ``stops``) needs no password, like ``ebr analytics chart``;
``set-state`` is a GMP change: the supervisor proves it with a password (prompted, or one
line on standard input with ``--password-stdin``) and it is audited.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import click

from ebr.cli.context import services
from ebr.core.db import unit_of_work
from ebr.core.errors import ValidationError
from ebr.core.inputs import read_file
from ebr.performance import export, report
from ebr.performance import services as perf
from ebr.performance.config import parse
from ebr.performance.kpi import STOPS
from ebr.performance.setup import configuration, plant_zone_name


def _moment(text: str, name: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"--{name} {text!r} is not a time; write e.g. 2026-03-02T06:00:00+01:00") from None
    if moment.tzinfo is None:
        raise ValidationError(f"--{name} {text!r} has no time zone; add one, e.g. +01:00 or Z")
    return moment.astimezone(dt.UTC)


@click.group("performance")
def group() -> None:
    """Unit states, downtime reasons and OEE (ISO 22400); see docs/performance.md."""


@group.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def check(file: Path) -> None:
    """Check a performance file (shifts, threshold, reason trees) without using it."""
    config = parse(read_file(file), file.name)
    shifts = ", ".join(f"{s.name} {s.start:%H:%M}-{s.end:%H:%M}" for s in config.shifts)
    click.echo(f"{file}: ok; shifts {shifts}; stops over {config.stop_threshold} need a reason; "
               f"reason trees for {', '.join(config.reasons) or 'no area (the default tree)'}")  # fmt: skip


@group.command("oee")
@click.option("--area", help="The plant area (default: every unit).")
@click.option("--unit", help="One unit.")
@click.option("--product", help="One product code.")
@click.option("--shift", help="One shift of the calendar.")
@click.option("--since", required=True, help="Start, ISO 8601 with zone.")
@click.option("--until", required=True, help="End, ISO 8601 with zone.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON the API gives.")
def oee(
    area: str | None, unit: str | None, product: str | None, shift: str | None, since: str, until: str, as_json: bool
) -> None:
    """Print availability, performance, quality, OEE, MTBF and MTTR of a scope and window."""
    svc = services()
    scope = report.Scope(area=area, unit=unit, product=product, shift=shift)
    with svc.session_factory() as session:
        found = report.build(
            session, configuration(svc), scope, _moment(since, "since"), _moment(until, "until"),
            plant_timezone=plant_zone_name(svc), per_unit=True,
        )  # fmt: skip
    if as_json:
        click.echo(json.dumps(export.as_json(found), indent=2))
        return
    for row in export.rows(found):
        click.echo(
            f"{row['scope']}: availability {row['availability']} performance {row['effectiveness']} "
            f"quality {row['quality']} OEE {row['oee']} MTBF {row['mtbf_s']} s MTTR {row['mttr_s']} s"
        )


@group.command("stops")
@click.option("--area", help="The plant area.")
@click.option("--since", required=True, help="Start, ISO 8601 with zone.")
@click.option("--until", required=True, help="End, ISO 8601 with zone.")
def stops(area: str | None, since: str, until: str) -> None:
    """List the stops (held, down) with their length and reason."""
    svc = services()
    with svc.session_factory() as session:
        units = perf.units_of(session, area)
        found = perf.history(session, units, _moment(since, "since"), _moment(until, "until"))
    for i in found:
        if i.state in STOPS:
            click.echo(f"{i.id}\t{i.unit}\t{i.start.isoformat()}\t{export.decimal(i.seconds, 0)} s\t{i.state.value}"
                       f"\t{i.cause}\t{i.reason or '(no reason)'}")  # fmt: skip


@group.command("set-state")
@click.argument("unit")
@click.argument("state", type=click.Choice([k.value for k in perf.SETTABLE]))
@click.option("--cause", required=True, help="Why (e.g. 'preventive maintenance PM-12').")
@click.option("--user", required=True, help="Your user id (a supervisor).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def set_state(unit: str, state: str, cause: str, user: str, password_stdin: bool) -> None:
    """Set UNIT's state by hand (planned downtime, down, idle); audited."""
    from signatures.permissions import require

    password = (
        sys.stdin.readline().rstrip("\n") if password_stdin else click.prompt(f"password of {user}", hide_input=True)
    )
    svc = services()
    with svc.session_factory.begin() as session:
        found = svc.users.authenticate(session, user, str(password))
        require(found.roles, "performance.state.set")
        actor = found.user_id
    with unit_of_work(svc.session_factory) as session:
        row = perf.set_state(session, svc.audit, svc.clock, actor=actor, unit=unit, state=state, cause=cause)
        click.echo(f"{row.unit} is {row.state} since {row.since.isoformat()} ({row.cause})")


def register(main: click.Group) -> None:
    main.add_command(group)
