"""``ebr init`` and ``ebr serve``."""

from __future__ import annotations

import click

from ebr.cli.context import services
from ebr.setup import initialize


@click.command()
def init() -> None:
    """Create or upgrade the database schema and the installation's first-time state."""
    for message in initialize(services()):
        click.echo(message)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Run the web application (development server; use gunicorn in production)."""
    from ebr.app import create_app

    app = create_app(services=services())
    click.echo(f"EBR web app listening on http://{host}:{port}/  (health: /healthz)")
    app.run(host=host, port=port, threaded=True)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--setup-only", is_flag=True, help="Prepare the demo database and exit without starting servers.")
@click.pass_context
def demo(ctx: click.Context, host: str, port: int, setup_only: bool) -> None:
    """Prepare the demo installation and start it."""
    from ebr import demo as demo_module
    from ebr.core.config import load_settings

    settings = load_settings()
    if setup_only:
        demo_module.prepare(settings, say=click.echo)
        return
    demo_module.serve(settings, host=host, port=port, say=click.echo)


def register(main: click.Group) -> None:
    main.add_command(init)
    main.add_command(serve)
    main.add_command(demo)
