"""``ebr yield show BATCH`` and ``ebr yield return BATCH``: a batch's yields and reconciliation without a browser.

Showing reads like ``ebr batch show``; recording a return is done by a user who proves
it with a password (prompted, or one line on standard input with ``--password-stdin``)
and needs ``batch.execute``. Quantities are plain decimals (a point), as stored.
"""

from __future__ import annotations

import json
import sys

import click

from ebr.cli.context import services
from ebr.core.canonical import jsonable
from ebr.core.db import unit_of_work
from ebr.execution import yields
from ebr.execution.rules import parse_decimal
from ebr.execution.service import build
from signatures.permissions import require


@click.group("yield")
def group() -> None:
    """Yield against theoretical and material reconciliation of a batch."""


@group.command("show")
@click.argument("batch")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(batch: str, as_json: bool) -> None:
    """Every yield of BATCH with its limits and verdict, and the reconciliation per material and container."""
    svc = services()
    with svc.session_factory() as session:
        found = build(svc).batch(session, batch)
        batch_yields, balances = yields.of_batch(session, found)
        if as_json:
            data = {"yields": [y.as_json() for y in batch_yields], "reconciliation": [m.as_json() for m in balances]}
            click.echo(json.dumps(jsonable(data), indent=2))
            return
        verdict = {None: "no actual yet", True: "within limits", False: "OUTSIDE ITS LIMITS"}
        for y in batch_yields:
            click.echo(f"{y.summary()}: {verdict[y.within]}")
        for m in balances:
            state = {None: "no limit", True: "within limit", False: "OUTSIDE ITS LIMIT"}[m.within]
            click.echo(f"{m.summary()}: {state}")
        if not batch_yields and not balances:
            click.echo(f"batch {found.number}: no yield declared and no material taken from containers")


@group.command("return")
@click.argument("batch")
@click.option("--container", required=True, help="The container's barcode.")
@click.option("--returned", required=True, help="Quantity that came back, re-weighed (decimal, e.g. 0.950).")
@click.option("--waste", default="0", show_default=True, help="Quantity spilled or discarded.")
@click.option("--user", required=True, help="Your user id.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def record(batch: str, container: str, returned: str, waste: str, user: str, password_stdin: bool) -> None:
    """Record what came back in CONTAINER and what was wasted; a reconciliation outside its limit opens a deviation."""
    amounts = parse_decimal("--returned", returned), parse_decimal("--waste", waste)
    password = (
        sys.stdin.readline().rstrip("\n") if password_stdin else click.prompt(f"password of {user}", hide_input=True)
    )
    svc = services()
    with unit_of_work(svc.session_factory) as session:
        found = svc.users.authenticate(session, user, str(password))
        require(found.roles, "batch.execute")
        _row, opened = yields.record_return(
            session, build(svc).ctx, actor=found.user_id, ref=batch, container=container,
            returned=amounts[0], waste=amounts[1],
        )  # fmt: skip
    click.echo(f"return of container {container.strip()} recorded for batch {batch}")
    for dev in opened:
        click.echo(f"deviation {dev.number} opened: {dev.description}")


def register(main: click.Group) -> None:
    """Attach ``ebr yield``."""
    main.add_command(group)
