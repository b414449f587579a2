"""``ebr db``: schema migrations."""

from __future__ import annotations

import click

from ebr import schema
from ebr.cli.context import services


@click.group("db")
def db() -> None:
    """Database schema: upgrade, downgrade, current revision."""


@db.command()
@click.argument("revision", default="heads")
def upgrade(revision: str) -> None:
    """Upgrade the schema to REVISION (default: the newest)."""
    engine = services().engine
    schema.upgrade(engine, revision)
    click.echo(schema.status(engine).describe())


@db.command()
@click.argument("revision")
def downgrade(revision: str) -> None:
    """Downgrade the schema to REVISION (``base`` removes every table)."""
    engine = services().engine
    schema.downgrade(engine, revision)
    current = schema.current_revisions(engine)
    click.echo("schema now at: " + (", ".join(sorted(current)) or "base (empty)"))


@db.command()
def current() -> None:
    """Show the schema revision and whether it is at the head (exit 1 when not)."""
    state = schema.status(services().engine)
    click.echo(state.describe())
    if not state.at_head:
        raise SystemExit(1)


def register(main: click.Group) -> None:
    main.add_command(db)
