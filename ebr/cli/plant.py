"""`ebr plant`: Plant configuration and equipment connections."""

from __future__ import annotations

import click


@click.group("plant")
def group() -> None:
    """Plant configuration and equipment connections."""


def register(main: click.Group) -> None:
    main.add_command(group)
