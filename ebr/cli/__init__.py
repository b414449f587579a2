"""The ``ebr`` command: every administrator and auditor task without a browser.

Each area adds its commands in its own module (``ebr/cli/<area>.py``) and is
attached in :data:`AREAS`. Errors of ours are printed as one clear line and exit
with status 2; no traceback reaches the user.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from ebr.core.errors import EbrError

AREAS = (
    "ebr.cli.core",
    "ebr.cli.validate",
    "ebr.cli.db",
    "ebr.cli.audit",
    "ebr.cli.users",
    "ebr.cli.recipes",
    "ebr.cli.plant",
    "ebr.cli.ops",
    "ebr.cli.batch",
    "ebr.cli.batch_record",
    "ebr.cli.trace",
    "ebr.analytics.cli",
    "ebr.integration.cli",
    "ebr.performance.cli",
)


class EbrGroup(click.Group):
    """A click group that turns our errors into a message and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EbrError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=EbrGroup)
@click.version_option(package_name="ebr-system", prog_name="ebr")
def main() -> None:
    """Electronic Batch Record system: set up, administer, audit and run the plant."""


for _area in AREAS:
    importlib.import_module(_area).register(main)
