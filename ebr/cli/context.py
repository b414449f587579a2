"""Shared helpers for commands: the services, built once per command."""

from __future__ import annotations

import click

from ebr.bootstrap import Services, build_services


def services() -> Services:
    """The services for this invocation, built from the environment on first use."""
    ctx = click.get_current_context()
    root = ctx.find_root()
    if root.obj is None:
        root.obj = build_services()
        root.call_on_close(root.obj.close)
    built: Services = root.obj
    return built
