"""``ebr recipe``: master recipes: validate, import, export, list, diff, and the approval lifecycle.

Who acts is a user of the system (``--user``) who proves it with a password:
prompted (hidden), or one line from standard input with ``--password-stdin``.
Submitting for review and approving are electronic signatures ("authored",
"approved"); the password is the signature's second component.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import click

from ebr.cli.context import services
from ebr.core.clock import from_rfc3339
from ebr.core.db import unit_of_work
from ebr.core.errors import ValidationError


@click.group("recipe")
def group() -> None:
    """Master recipes: validate, import, export, list, diff, submit, approve."""


def _password(password_stdin: bool, user: str, meaning: str) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt(f"password of {user} ({meaning})", hide_input=True))


def _user_options(func: click.decorators.FC) -> click.decorators.FC:
    func = click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")(func)
    return click.option("--user", required=True, help="Your user id.")(func)


def _read(path: str) -> bytes:
    """The file's bytes, refused before reading when above EBR_INPUT_MAX_BYTES."""
    from ebr.bootstrap import input_limits
    from ebr.core.config import load_settings
    from ebr.core.inputs import read_file

    return read_file(path, limits=input_limits(load_settings()))


@group.command("validate")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--name", help="The recipe's name, when the file's own is wrong (e.g. a number from another tool).")
def validate(file: str, name: str | None) -> None:
    """Check FILE (YAML or BatchML) and list every problem; stores nothing."""
    from ebr.bootstrap import input_limits
    from ebr.core.config import load_settings
    from recipes.reading import read_recipes

    data = _read(file)
    found = read_recipes(data, source=file, limits=input_limits(load_settings()), name=name)
    for recipe, _format, unmapped in found:
        phases = sum(1 for _ in recipe.phases())
        click.echo(
            f"ok: {recipe.name} ({recipe.title}): {len(recipe.unit_procedures)} unit procedures, {phases} phases"
        )
        for line in unmapped:
            click.echo(f"  not mapped: {line}")


@group.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@_user_options
@click.option("--name", help="The recipe's name, when the file's own is wrong (e.g. a number from another tool).")
def import_(file: str, user: str, password_stdin: bool, name: str | None) -> None:
    """Validate FILE (YAML or BatchML) and store each recipe in it as a new draft version."""
    password = _password(password_stdin, user, "log in")
    data = _read(file)
    built = services()
    with unit_of_work(built.session_factory) as session:
        built.users.authenticate(session, user, password)
    with unit_of_work(built.session_factory) as session:
        rows = built.recipes.import_text(session, actor=user, data=data, source=file, name=name)
        labels = [(row.label, row.status, json.loads(row.unmapped or "[]")) for row in rows]
    for label, status, unmapped in labels:
        click.echo(f"imported {label} ({status})")
        for line in unmapped:
            click.echo(f"  not mapped: {line}")


@group.command("export")
@click.argument("ref")
@click.option("--format", "fmt", type=click.Choice(["batchml", "yaml"]), default="batchml", show_default=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="File to write ('-' for stdout).")
def export(ref: str, fmt: str, output: str) -> None:
    """Write recipe REF (NAME or NAME@VERSION) as BatchML V0701 or YAML."""
    from recipes.authoring import to_yaml
    from recipes.batchml import export_batchml

    built = services()
    with built.session_factory() as session:
        row, recipe = built.recipes.get(session, ref)
    data = export_batchml(recipe, version=str(row.version)) if fmt == "batchml" else to_yaml(recipe).encode("utf-8")
    if output == "-":
        click.echo(data.decode("utf-8"), nl=False)
        return
    Path(output).write_bytes(data)
    click.echo(f"wrote {row.label} ({row.status}) as {fmt} to {output}")


@group.command("list")
@click.argument("name", required=False)
def list_versions(name: str | None) -> None:
    """Every recipe version (of NAME, or all) with status and effective date."""
    built = services()
    with built.session_factory() as session:
        rows = built.recipes.list(session, name)
    click.echo(f"{'recipe':<28} {'status':<11} {'effective from':<17} {'by':<14} title")
    for row in rows:
        effective = f"{row.effective_from:%Y-%m-%d %H:%M}" if row.effective_from else "-"
        who = row.approved_by or row.submitted_by or row.created_by
        click.echo(f"{row.label:<28} {row.status:<11} {effective:<17} {who:<14} {row.title}")


@group.command("diff")
@click.argument("a")
@click.argument("b")
def diff(a: str, b: str) -> None:
    """Show what changed from version A to version B (NAME@N each)."""
    built = services()
    with built.session_factory() as session:
        text = built.recipes.diff(session, a, b)
    click.echo(text or f"{a} and {b} have the same content")


@group.command("submit")
@click.argument("ref")
@_user_options
@click.option("--reason", help="Optional comment recorded with the signature.")
def submit(ref: str, user: str, password_stdin: bool, reason: str | None) -> None:
    """Sign draft REF "authored" and send it for review."""
    password = _password(password_stdin, user, 'sign "authored"')
    built = services()
    with unit_of_work(built.session_factory) as session:
        row = built.recipes.submit_for_review(session, ref=ref, user_id=user, password=password, reason=reason)
        label = row.label
    click.echo(f"{label} signed 'authored' by {user} and sent for review")


@group.command("approve")
@click.argument("ref")
@_user_options
@click.option(
    "--effective-from", help="RFC 3339 moment it becomes effective (default: now), e.g. 2026-12-01T06:00:00Z."
)
@click.option("--reason", help="Optional comment recorded with the signature.")
def approve(ref: str, user: str, password_stdin: bool, effective_from: str | None, reason: str | None) -> None:
    """Sign REF "approved" (never your own recipe) and make it effective."""
    start: dt.datetime | None = None
    if effective_from:
        try:
            start = from_rfc3339(effective_from)
        except ValueError as exc:
            raise ValidationError(
                f"--effective-from {effective_from!r}: {exc}; use e.g. 2026-12-01T06:00:00Z"
            ) from None
    password = _password(password_stdin, user, 'sign "approved"')
    built = services()
    with unit_of_work(built.session_factory) as session:
        row = built.recipes.approve(
            session, ref=ref, user_id=user, password=password, effective_from=start, reason=reason
        )
        label, effective = row.label, row.effective_from
    click.echo(f"{label} approved by {user}, effective from {effective:%Y-%m-%d %H:%M} UTC")


@group.command("return")
@click.argument("ref")
@_user_options
@click.option("--reason", required=True, help="What the author must change.")
def return_(ref: str, user: str, password_stdin: bool, reason: str) -> None:
    """Send REF (in review) back to draft."""
    _lifecycle(ref, user, password_stdin, reason, "returned to draft")


@group.command("obsolete")
@click.argument("ref")
@_user_options
@click.option("--reason", required=True, help="Why the version is withdrawn.")
def obsolete(ref: str, user: str, password_stdin: bool, reason: str) -> None:
    """Withdraw REF for good: it can no longer be approved or make a batch."""
    _lifecycle(ref, user, password_stdin, reason, "made obsolete")


def _lifecycle(ref: str, user: str, password_stdin: bool, reason: str, done: str) -> None:
    password = _password(password_stdin, user, "log in")
    built = services()
    with unit_of_work(built.session_factory) as session:
        built.users.authenticate(session, user, password)
    with unit_of_work(built.session_factory) as session:
        if done == "made obsolete":
            row = built.recipes.obsolete(session, ref=ref, actor=user, reason=reason)
        else:
            row = built.recipes.return_to_draft(session, ref=ref, actor=user, reason=reason)
        label = row.label
    click.echo(f"{label} {done}")


def register(main: click.Group) -> None:
    main.add_command(group)
