"""`ebr user`: Users, roles, passwords and lockout."""

from __future__ import annotations

import click


@click.group("user")
def group() -> None:
    """Users, roles, passwords and lockout."""


def register(main: click.Group) -> None:
    main.add_command(group)
