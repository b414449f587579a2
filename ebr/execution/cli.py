"""``ebr batch``: create batches from approved recipes, list them, show one, recover after a crash.

Who acts is a user (``--user``) who proves it with a password (prompted, or one line
on standard input with ``--password-stdin``); the permission table decides.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from ebr.cli.context import services
from ebr.core.canonical import jsonable
from ebr.core.db import unit_of_work
from ebr.execution import deviations
from ebr.execution.batches import batch_json, list_batches
from ebr.execution.models import Batch, BatchStep
from ebr.execution.service import build
from signatures.permissions import require


def _actor(session: Session, user: str, password_stdin: bool, action: str) -> str:
    password = (
        sys.stdin.readline().rstrip("\n") if password_stdin else click.prompt(f"password of {user}", hide_input=True)
    )
    found = services().users.authenticate(session, user, str(password))
    require(found.roles, action)
    return found.user_id


def _user_options(func: Any) -> Any:
    func = click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")(func)
    return click.option("--user", required=True, help="Your user id.")(func)


@click.group("batch")
def group() -> None:
    """Batches: create, list, show, release to the floor, recover."""


@group.command("create")
@click.argument("recipe")
@click.option("--size", required=True, help="Batch size in the recipe's unit (within its min/max).")
@click.option("--order", required=True, help="Production order number.")
@_user_options
def create(recipe: str, size: str, order: str, user: str, password_stdin: bool) -> None:
    """Create a batch of RECIPE@VERSION (or RECIPE: the effective version)."""
    name, _, version = recipe.partition("@")
    svc = services()
    with unit_of_work(svc.session_factory) as session:
        actor = _actor(session, user, password_stdin, "batch.create")
        batch = build(svc).create_batch(
            session, actor=actor, recipe=name, version=version or None, size=size, order=order
        )
        click.echo(
            f"created batch {batch.number} of {batch.recipe_name} v{batch.recipe_version}, "
            f"{batch.size} {batch.size_unit}, order {batch.production_order}"
        )


@group.command("release")
@click.argument("batch")
@_user_options
def release(batch: str, user: str, password_stdin: bool) -> None:
    """Release BATCH to the shop floor (created → ready)."""
    svc = services()
    with unit_of_work(svc.session_factory) as session:
        actor = _actor(session, user, password_stdin, "batch.create")
        found = build(svc).release_to_floor(session, actor=actor, ref=batch)
        click.echo(f"batch {found.number} is {found.status}")


@group.command("list")
@click.option("--status", default=None, help="Only batches with this status.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_(status: str | None, as_json: bool) -> None:
    """List batches, newest first."""
    with services().session_factory() as session:
        rows = list_batches(session, status=status)
        if as_json:
            click.echo(json.dumps([jsonable(batch_json(b)) for b in rows], indent=2))
            return
        if not rows:
            click.echo("no batches")
        for b in rows:
            click.echo(
                f"{b.number}  {b.recipe_name} v{b.recipe_version}  {b.size} {b.size_unit}  "
                f"order {b.production_order}  {b.status} / {b.state}"
            )


def _current(session: Session, batch: Batch) -> list[BatchStep]:
    query = select(BatchStep).where(
        BatchStep.batch_id == batch.id,
        BatchStep.level == "phase",
        BatchStep.ready.is_(True),
        BatchStep.state.not_in(["Complete"]),
    )
    return list(session.scalars(query.order_by(BatchStep.position)))


@group.command("show")
@click.argument("batch")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(batch: str, as_json: bool) -> None:
    """State, current steps and open deviations of BATCH."""
    svc = services()
    with svc.session_factory() as session:
        found = build(svc).batch(session, batch)
        current = _current(session, found)
        open_devs = deviations.for_batch(session, found, open_only=True)
        if as_json:
            data = batch_json(found) | {
                "current_steps": [{"path": s.path, "name": s.name, "state": s.state} for s in current],
                "open_deviations": [deviations.deviation_json(d) for d in open_devs],
            }
            click.echo(json.dumps(jsonable(data), indent=2))
            return
        click.echo(
            f"batch {found.number}: {found.recipe_name} v{found.recipe_version}, "
            f"{found.size} {found.size_unit}, order {found.production_order}"
        )
        click.echo(f"status {found.status}, state {found.state}")
        click.echo("current steps:" if current else "current steps: none")
        for s in current:
            click.echo(f"  {s.path}  {s.name}  [{s.state}]")
        click.echo("open deviations:" if open_devs else "open deviations: none")
        for d in open_devs:
            click.echo(f"  {d.number}  {d.severity}  {d.kind}  {d.step_path or '-'}  {d.description}")


@group.command("recover")
def recover() -> None:
    """Bring every batch in execution up to date after a restart (uncertain automated phases go to Held)."""
    svc = services()
    with unit_of_work(svc.session_factory) as session:
        numbers = build(svc).recover(session)
    click.echo(f"recovered {len(numbers)} batch(es) in execution" + (": " + ", ".join(numbers) if numbers else ""))


def register(main: click.Group) -> None:
    main.add_command(group)
