"""`ebr audit`: Audit trail: verify, checkpoint, export."""

from __future__ import annotations

import click


@click.group("audit")
def group() -> None:
    """Audit trail: verify, checkpoint, export."""


def register(main: click.Group) -> None:
    main.add_command(group)
