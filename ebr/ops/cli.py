"""``ebr scheduler``, ``ebr backup`` and ``ebr restore``: running the system in production."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ebr.cli.context import services


@click.command()
@click.option("--list", "list_only", is_flag=True, help="Print the enabled jobs and their intervals, then exit.")
@click.option("--log-level", default="INFO", show_default=True, envvar="EBR_LOG_LEVEL")
def scheduler(list_only: bool, log_level: str) -> None:
    """Run the scheduled jobs (audit verification and checkpoints, timed holds, clean holds) until stopped.

    Run one per site, or one per host for availability: each job still runs once
    per interval (PostgreSQL advisory locks and the run ledger).
    """
    from ebr import schema
    from ebr.jobs.definitions import builtin_jobs
    from ebr.jobs.scheduler import run_forever
    from ebr.ops.logging import configure_logging
    from ebr.ops.roles import guard_production

    specs = builtin_jobs(os.environ)
    if list_only:
        for spec in specs:
            every = f"every {int(spec.every.total_seconds())}s"
            click.echo(f"{spec.name:<20} {every:<12} {spec.description}")
        return
    configure_logging(log_level.upper())
    built = services()
    schema.require_head(built.engine)
    guard_production(built.settings, built.engine)
    run_forever(built, specs)


@click.command()
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path), help="A new, empty folder.")
def backup(output: Path) -> None:
    """Back up the database, the key files and the checkpoint log into OUTPUT, with a manifest."""
    from ebr.ops.backup import make_backup

    manifest = make_backup(services(), output)
    click.echo(f"backup written to {output} ({len(manifest.files)} files, audit head seq {manifest.audit_head_seq})")


@click.command()
@click.argument("source", type=click.Path(path_type=Path, exists=True, file_okay=False))
def restore(source: Path) -> None:
    """Restore the backup in SOURCE into an EMPTY database, then verify the audit chain."""
    from ebr.ops.backup import restore_backup

    report = restore_backup(services(), source)
    for line in report.lines():
        click.echo(line)
    if not report.ok:
        raise SystemExit(1)


def register(main: click.Group) -> None:
    main.add_command(scheduler)
    main.add_command(backup)
    main.add_command(restore)
