"""``ebr db``: schema migrations."""

from __future__ import annotations

import click

from ebr import schema
from ebr.cli.context import services
from ebr.core.db import make_engine
from ebr.ops.roles import create_roles, migrate


@click.group("db")
def db() -> None:
    """Database schema: upgrade, downgrade, current revision."""


@db.command()
@click.argument("revision", default="heads")
def upgrade(revision: str) -> None:
    """Upgrade the schema to REVISION (default: the newest)."""
    built = services()
    owner = migrate(built.settings, built.engine, revision)
    if owner is not None:
        click.echo(f"migrated as {owner.url.username!r}; {built.engine.url.username!r} granted the new tables")
    click.echo(schema.status(built.engine).describe())


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


@db.command()
@click.option("--admin-url", envvar="EBR_ADMIN_DATABASE_URL", help="A superuser's URL (default: EBR_DATABASE_URL).")
@click.option("--owner", default="ebr_owner", show_default=True, help="The role that owns the tables (migrations).")
@click.option("--app", "app_role", default="ebr_app", show_default=True, help="The role the system runs as.")
@click.option("--owner-password", envvar="EBR_OWNER_DB_PASSWORD", default=None, help="Set the owner's password.")
@click.option("--app-password", envvar="EBR_APP_DB_PASSWORD", default=None, help="Set the application's password.")
def roles(
    admin_url: str | None, owner: str, app_role: str, owner_password: str | None, app_password: str | None
) -> None:
    """PostgreSQL: create the owner and application roles, hand the tables to the owner, grant the application.

    Idempotent. Run once as a superuser (--admin-url), then point EBR_DATABASE_URL at
    the application role and EBR_MIGRATION_DATABASE_URL at the owner (docs/operations.md).
    """
    built = services()
    admin = make_engine(admin_url) if admin_url else built.engine
    try:
        for line in create_roles(
            admin, owner=owner, app=app_role, owner_password=owner_password, app_password=app_password
        ):
            click.echo(line)
    finally:
        if admin is not built.engine:
            admin.dispose()
    click.echo(f"now set EBR_DATABASE_URL to {app_role!r} and EBR_MIGRATION_DATABASE_URL to {owner!r}")


def register(main: click.Group) -> None:
    main.add_command(db)
