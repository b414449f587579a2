"""``ebr batch record | bpr | export``: the batch record PDF, the BatchML BPR and the auditor's bundle.

Added to the ``ebr batch`` group of ``ebr/execution/cli.py``. Who asks proves it with a
password (prompted, or one line on standard input with ``--password-stdin``) and
needs ``audit.export`` (QA, auditors); every output is audited. Progress goes to
standard error.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from ebr.cli.context import services

PERMISSION = "audit.export"


def _actor(user: str, password_stdin: bool) -> str:
    from signatures.permissions import require

    password = (
        sys.stdin.readline().rstrip("\n") if password_stdin else click.prompt(f"password of {user}", hide_input=True)
    )
    svc = services()
    with svc.session_factory.begin() as session:
        found = svc.users.authenticate(session, user, str(password))
        require(found.roles, PERMISSION)
        return found.user_id


def _progress() -> Any:
    started = time.monotonic()

    def show(message: str) -> None:
        click.echo(f"[{time.monotonic() - started:6.1f} s] {message}", err=True)

    return show


def _options(func: Any) -> Any:
    func = click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")(func)
    func = click.option("--user", required=True, help="Your user id (QA or auditor).")(func)
    return click.option(
        "-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="File to write."
    )(func)


@click.command("record")
@click.argument("batch")
@_options
def record(batch: str, output: Path, user: str, password_stdin: bool) -> None:
    """Write the batch record of BATCH as PDF/A-3b (record.json attached)."""
    actor = _actor(user, password_stdin)
    from ebr.records import services as reports  # imports WeasyPrint: only the commands that use it load it

    result = reports.print_record(services(), ref=batch, actor=actor, progress=_progress())
    output.write_bytes(result.data)
    click.echo(f"wrote {output}: batch record of {result.number}, {result.pages} pages")


@click.command("bpr")
@click.argument("batch")
@_options
def bpr(batch: str, output: Path, user: str, password_stdin: bool) -> None:
    """Write the BatchML V0701 batch production record of BATCH (validated)."""
    actor = _actor(user, password_stdin)
    from ebr.records import services as reports  # imports WeasyPrint: only the commands that use it load it

    result = reports.production_record(services(), ref=batch, actor=actor)
    output.write_bytes(result.data)
    click.echo(f"wrote {output}: BatchProductionRecord of {result.number}")


@click.command("export")
@click.argument("batch")
@_options
def export(batch: str, output: Path, user: str, password_stdin: bool) -> None:
    """Write the auditor's bundle of BATCH (record.json, record.pdf, audit trail, signatures, keys)."""
    actor = _actor(user, password_stdin)
    from ebr.records import services as reports  # imports WeasyPrint: only the commands that use it load it

    result = reports.export_batch_bundle(services(), ref=batch, actor=actor, out_path=output, progress=_progress())
    click.echo(
        f"wrote {output}: events {result.first_seq}..{result.last_seq} ({result.events} of the batch, "
        f"each with its inclusion proof), {result.signatures} signatures; check it with "
        f"`ebr audit verify --bundle {output}`"
    )


def register(main: click.Group) -> None:
    group = main.commands.get("batch")
    if not isinstance(group, click.Group):
        raise RuntimeError(
            "ebr.records.cli needs the `ebr batch` group: list ebr.execution before ebr.records in FEATURES"
        )
    for command in (record, bpr, export):
        group.add_command(command)
