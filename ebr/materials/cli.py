"""``ebr trace``: genealogy of a lot (backward to raw materials, forward to products) or a batch."""

from __future__ import annotations

import json

import click

from ebr.cli.context import services
from ebr.execution.service import build
from ebr.materials import genealogy


@click.group("trace")
def group() -> None:
    """Trace lots and batches through the genealogy."""


@group.command("lot")
@click.argument("lot")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def lot(lot: str, as_json: bool) -> None:
    """Where LOT came from (backward) and where it went (forward)."""
    with services().session_factory() as session:
        back = genealogy.backward(session, lot)
        ahead = genealogy.forward(session, lot)
    if as_json:
        click.echo(json.dumps({"backward": back.as_json(), "forward": ahead.as_json()}, indent=2))
        return
    click.echo("backward (made from):")
    for line in back.lines(1):
        click.echo(line)
    click.echo("forward (went into):")
    for line in ahead.lines(1):
        click.echo(line)


@group.command("batch")
@click.argument("batch")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def batch(batch: str, as_json: bool) -> None:
    """The lots BATCH consumed and the lot it made."""
    svc = services()
    with svc.session_factory() as session:
        found = build(svc).batch(session, batch)
        data = genealogy.batch_genealogy(session, found)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"batch {data['batch']}")
    click.echo("inputs:" if data["inputs"] else "inputs: none")
    for item in data["inputs"]:
        click.echo(
            f"  {item['lot']}  {item['material']}  {item['quantity']} {item['unit']}  "
            f"at {item['step']}  from {item['container']}"
        )
    click.echo("outputs: " + (", ".join(data["outputs"]) or "none"))


def register(main: click.Group) -> None:
    main.add_command(group)
