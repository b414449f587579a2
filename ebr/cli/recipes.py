"""`ebr recipe`: Master recipes: validate, import, export, diff."""

from __future__ import annotations

import click


@click.group("recipe")
def group() -> None:
    """Master recipes: validate, import, export, diff."""


def register(main: click.Group) -> None:
    main.add_command(group)
