"""``ebr user``: users, roles, passwords and lockout.

Passwords are never taken from the command line (they would land in the shell
history): ``--password-stdin`` reads one line from standard input, otherwise a
one-time password is printed once. Either way the user must change it at first
login, so an administrator never holds a usable password silently.
"""

from __future__ import annotations

import getpass
import sys

import click

from ebr.cli.context import services
from ebr.core.db import unit_of_work
from signatures.permissions import Role


def _actor() -> str:
    return f"system:cli:{getpass.getuser()}"


@click.group("user")
def group() -> None:
    """Users, roles, passwords and lockout."""


@group.command("add")
@click.argument("user_id")
@click.option("--name", "full_name", required=True, help="Full printed name (shown on every signature).")
@click.option(
    "--role", "roles", multiple=True, required=True, type=click.Choice([r.value for r in Role]), help="Repeatable."
)
@click.option("--password-stdin", is_flag=True, help="Read the initial password from standard input.")
@click.option(
    "--identity-checked",
    "identity_check",
    default=None,
    help='How you verified the person\'s identity (21 CFR 11.100(b)), e.g. "badge and passport seen".',
)
def add(user_id: str, full_name: str, roles: tuple[str, ...], password_stdin: bool, identity_check: str | None) -> None:
    """Create USER_ID with a name and roles; the first password must be changed at login."""
    from signatures.passwords import one_time_password

    if password_stdin:
        # Typed at a terminal: not echoed. Piped: one line, as `docker login --password-stdin` does.
        tty = sys.stdin.isatty()
        password = click.prompt("Password", hide_input=True) if tty else sys.stdin.readline().rstrip("\n")
    else:
        password = one_time_password()
    built = services()
    with unit_of_work(built.session_factory) as session:
        user = built.users.create(
            session,
            actor=_actor(),
            user_id=user_id,
            full_name=full_name,
            roles=roles,
            password=password,
            identity_check=identity_check,
        )
    click.echo(f"user {user.user_id!r} created ({user.full_name}; roles: {', '.join(user.roles)})")
    if identity_check is None:
        click.echo(
            f"identity not yet verified: run `ebr user verify-identity {user.user_id} --how ...` before they sign"
        )
    if not password_stdin:
        click.echo(f"one-time password: {password}  (shown only now; it must be changed at first login)")


@group.command("verify-identity")
@click.argument("user_id")
@click.option("--how", required=True, help='How the identity was verified, e.g. "passport checked in person".')
def verify_identity(user_id: str, how: str) -> None:
    """Record that USER_ID's identity was verified, and how (needed before their first signature)."""
    built = services()
    with unit_of_work(built.session_factory) as session:
        built.users.verify_identity(session, actor=_actor(), user_id=user_id, how=how)
    click.echo(f"identity of {user_id!r} recorded as verified ({how})")


@group.command("list")
def list_users() -> None:
    """Every user with roles and status (deactivated users stay listed: ids are never reused)."""
    built = services()
    with built.session_factory() as session:
        users = built.users.list(session)
    click.echo(f"{'user id':<20} {'name':<28} {'source':<6} {'status':<10} {'identity':<10} roles")
    for user in users:
        status = "disabled" if not user.active else "locked" if user.locked else "active"
        if user.active and user.must_change_password:
            status += "*"
        identity = "verified" if user.identity_verified_at else "unchecked"
        click.echo(
            f"{user.user_id:<20} {user.full_name:<28} {user.source:<6} {status:<10} {identity:<10} "
            + " ".join(user.roles)
        )
    if any(u.active and u.must_change_password for u in users):
        click.echo("* must change the password at next login")


@group.command("disable")
@click.argument("user_id")
@click.option("--reason", required=True, help="Why (recorded in the audit trail).")
def disable(user_id: str, reason: str) -> None:
    """Deactivate USER_ID for good (the id stays reserved; signatures stay valid)."""
    built = services()
    with unit_of_work(built.session_factory) as session:
        built.users.deactivate(session, actor=_actor(), user_id=user_id, reason=reason)
    click.echo(f"user {user_id!r} deactivated")


@group.command("unlock")
@click.argument("user_id")
@click.option("--reason", required=True, help="Why (recorded in the audit trail).")
def unlock(user_id: str, reason: str) -> None:
    """Unlock USER_ID after a lockout."""
    built = services()
    with unit_of_work(built.session_factory) as session:
        built.users.unlock(session, actor=_actor(), user_id=user_id, reason=reason)
    click.echo(f"user {user_id!r} unlocked")


@group.command("reset-password")
@click.argument("user_id")
@click.option("--reason", default=None, help="Why (recorded in the audit trail).")
def reset_password(user_id: str, reason: str | None) -> None:
    """Give USER_ID a one-time password to change at next login (a new signing key is made)."""
    built = services()
    with unit_of_work(built.session_factory) as session:
        temporary = built.users.reset_password(session, actor=_actor(), user_id=user_id, reason=reason)
    click.echo(f"one-time password for {user_id!r}: {temporary}  (shown only now; it must be changed at login)")


@group.command("roles")
@click.argument("user_id")
@click.option(
    "--role", "roles", multiple=True, required=True, type=click.Choice([r.value for r in Role]), help="Repeatable."
)
@click.option("--reason", required=True, help="Why (recorded in the audit trail with the old and new roles).")
def roles(user_id: str, roles: tuple[str, ...], reason: str) -> None:
    """Replace USER_ID's roles (admin never together with a role that executes or signs GMP records)."""
    built = services()
    with unit_of_work(built.session_factory) as session:
        user = built.users.set_roles(session, actor=_actor(), user_id=user_id, roles=roles, reason=reason)
        waiting = [g for g in built.users.grants.pending(session) if g.user_id == user.user_id]
    click.echo(f"roles of {user.user_id!r}: {', '.join(user.roles) or 'none'}")
    for grant in waiting:
        click.echo(
            f"waiting for a second administrator: {', '.join(grant.roles)} "
            f"(`ebr user confirm-grant {grant.id}`, run by another administrator)"
        )


@group.command("grants")
def grants() -> None:
    """Grants of GMP roles waiting for a second administrator (EBR_ROLE_GRANT_CONFIRMATION)."""
    built = services()
    with built.session_factory() as session:
        waiting = built.users.grants.pending(session)
    if not waiting:
        click.echo("no role grant is waiting")
    for grant in waiting:
        click.echo(
            f"{grant.id}  {grant.user_id:<20} {' '.join(grant.roles):<30} by {grant.requested_by} "
            f"at {grant.requested_at:%Y-%m-%d %H:%M %Z}: {grant.reason}"
        )


@group.command("confirm-grant")
@click.argument("grant_id")
def confirm_grant(grant_id: str) -> None:
    """Confirm GRANT_ID as the second administrator (not the one who asked, not the person concerned)."""
    built = services()
    with unit_of_work(built.session_factory) as session:
        user = built.users.grants.confirm(session, actor=_actor(), grant_id=grant_id)
    click.echo(f"roles of {user.user_id!r}: {', '.join(user.roles)}")


@group.command("permissions")
def permissions() -> None:
    """Print the permission table (role × action) and the segregation-of-duties rules, as Markdown."""
    from signatures.permissions import incompatibility_rules, matrix_markdown

    click.echo(matrix_markdown())
    click.echo("\nSegregation of duties (for people, not only roles):\n")
    for rule in incompatibility_rules():
        click.echo(f"- {rule}")


def _read_secret(prompt: str, *, from_stdin: bool, confirm: bool = False) -> str:
    if from_stdin and not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line:
            raise click.UsageError(f"{prompt}: standard input ended; give one password per line")
        return line.rstrip("\n")
    value: str = click.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
    return value


@group.command("password")
@click.argument("user_id")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the current password, then the new one, one per line from standard input.",
)
def password(user_id: str, password_stdin: bool) -> None:
    """Change USER_ID's own password (also the first-login change of a one-time password).

    Proves who you are with the current (or one-time) password, like the web page
    does; a new signing key is made and the old one stays valid for old signatures.
    """
    current = _read_secret("Current (or one-time) password", from_stdin=password_stdin)
    new = _read_secret("New password", from_stdin=password_stdin, confirm=not password_stdin)
    built = services()
    with unit_of_work(built.session_factory) as session:
        built.users.change_password(session, user_id=user_id, old_password=current, new_password=new)
    click.echo(f"password of {user_id.strip().lower()!r} changed; a new signing key was made")


def register(main: click.Group) -> None:
    main.add_command(group)
