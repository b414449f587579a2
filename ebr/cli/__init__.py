"""The ``ebr`` command: every administrator and auditor task without a browser.

The installation's own commands (``init``, ``serve``, ``demo``: ``ebr.cli.core``) are here;
every feature adds its own from its ``cli.py`` (``ebr.features``), ``ebr validate`` too
(``validation.cli``). Errors of ours are printed as one clear line
and exit with status 2; no traceback reaches the user.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from ebr.core.errors import EbrError
from ebr.features import register_cli

CORE = ("ebr.cli.core",)


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


for _module in CORE:
    importlib.import_module(_module).register(main)
register_cli(main)
