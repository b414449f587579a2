"""``ebr erp``: import a B2MML file, the outbox and the inbound dead letters, the integration's status, the worker,
tokens."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import click

from ebr.cli.context import services
from ebr.core.db import unit_of_work
from ebr.integration import deadletters, health, masterdata, tokens
from ebr.integration.setup import build
from ebr.integration.worker import retry as retry_message

DEAD_IN_SHOWN = 20
"""Inbound dead letters listed by ``ebr erp status`` (newest first)."""


@click.group("erp")
def group() -> None:
    """ERP and LIMS integration: B2MML orders in, the outbox out."""


@group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--ack", "ack_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the ConfirmBOD here.")
def import_file(file: Path, ack_path: Path | None) -> None:
    """Apply FILE (B2MML V0401 or V0701: process orders, materials, lots) and print what became of each."""
    receipt = build(services()).receive(file.read_bytes(), channel="erp:cli", message_id=None)
    if ack_path is not None:
        ack_path.write_bytes(receipt.acknowledgement)
    prefix = "duplicate message, nothing changed: " if receipt.duplicate else ""
    for line in receipt.lines:
        click.echo(prefix + line)
    if not receipt.accepted:
        click.echo(f"error: {file.name} was refused (see above); nothing of it was stored", err=True)
        sys.exit(2)


@group.group("outbox", invoke_without_command=True)
@click.option("--status", type=click.Choice(["pending", "sent", "dead"]), help="Only messages of this status.")
@click.option("--limit", default=50, show_default=True)
@click.pass_context
def outbox(ctx: click.Context, status: str | None, limit: int) -> None:
    """List outbox messages (newest first); `retry` and `dead` below."""
    if ctx.invoked_subcommand is not None:
        return
    with services().session_factory() as session:
        rows = health.messages(session, status=status, limit=limit)
    for row in rows:
        error = f"  {row.last_error}" if row.last_error else ""
        click.echo(
            f"{row.created_at:%Y-%m-%d %H:%M:%S}  {row.message_id}  {row.channel:<4} {row.kind:<13} "
            f"{row.status:<7} attempts {row.attempts}  {row.batch_number or '-'}{error}"
        )
    if not rows:
        click.echo("no messages")


@outbox.command("dead")
def dead() -> None:
    """The dead letters with their last error."""
    with services().session_factory() as session:
        rows = health.dead_letters(session)
    for row in rows:
        click.echo(
            f"{row.message_id}  {row.channel} {row.kind}  {row.batch_number or '-'}  "
            f"after {row.attempts} attempts: {row.last_error}"
        )
    if not rows:
        click.echo("no dead letters")


@outbox.command("retry")
@click.argument("message_id")
@click.option("--reason", required=True, help="Why it is retried (audited).")
@click.option("--actor", default="admin", show_default=True, help="Who retries it (audited).")
def retry(message_id: str, reason: str, actor: str) -> None:
    """Put the dead letter MESSAGE_ID back in line for delivery."""
    svc = services()
    with unit_of_work(svc.session_factory) as session:
        retry_message(session, audit=svc.audit, clock=svc.clock, actor=actor, message_id=message_id, reason=reason)
    click.echo(f"message {message_id} is pending again")


@group.group("deadletters", invoke_without_command=True)
@click.option("--limit", default=100, show_default=True)
@click.pass_context
def inbound_dead(ctx: click.Context, limit: int) -> None:
    """Inbound messages dead-lettered (newest first): id, channel, message id, attempts, last error; `replay` below."""
    if ctx.invoked_subcommand is not None:
        return
    with services().session_factory() as session:
        letters = deadletters.recent(session, limit=limit)
    for letter in letters:
        click.echo(
            f"{letter.id}  {letter.dead_at:%Y-%m-%d %H:%M:%S}  {letter.channel}  {letter.message_id or '-'}  "
            f"after {letter.attempts} attempts: {letter.error}"
        )
    if not letters:
        click.echo("no inbound dead letters")


@inbound_dead.command("replay")
@click.argument("letter_id")
@click.option("--reason", required=True, help="What was fixed since (audited).")
@click.option("--actor", default="admin", show_default=True, help="Who replays it (audited).")
def replay(letter_id: str, reason: str, actor: str) -> None:
    """Apply the ERP dead letter LETTER_ID again (after its cause was fixed); it is removed when applied."""
    receipt = build(services()).replay(letter_id, actor=actor, reason=reason)
    prefix = "duplicate message, nothing changed: " if receipt.duplicate else ""
    for line in receipt.lines:
        click.echo(prefix + line)
    click.echo(f"dead letter {letter_id} replayed and removed")


@group.command("status")
def status() -> None:
    """Per channel: transport, last message in and out, backlog, dead letters (out and in); orders by status."""
    wiring = build(services())
    with wiring.services.session_factory() as session:
        rows = health.channels(session, wiring.settings)
        orders = health.orders(session)
        dead_in = deadletters.recent(session, limit=DEAD_IN_SHOWN)
    for row in rows:
        last_in = f"{row.last_in:%Y-%m-%d %H:%M:%S}" if row.last_in else "never"
        last_out = f"{row.last_out:%Y-%m-%d %H:%M:%S}" if row.last_out else "never"
        click.echo(
            f"{row.name:<4} {row.transport:<6} in: {row.received} (last {last_in})  out: {row.sent} sent "
            f"(last {last_out}), {row.pending} pending, {row.dead} dead; {row.dead_in} dead-lettered in"
        )
    for letter in dead_in:
        click.echo(
            f"dead-lettered {letter.dead_at:%Y-%m-%d %H:%M:%S} {letter.channel} {letter.message_id or '-'} "
            f"(queue {letter.queue}, {letter.attempts} attempts): {letter.error}  "
            f"[ebr erp deadletters replay {letter.id}]"
        )
    click.echo("orders: " + (", ".join(f"{k} {v}" for k, v in sorted(orders.items())) or "none"))
    with wiring.services.session_factory() as session:
        lots = masterdata.inventory(session)
    differ = sum(1 for line in lots if line.difference)
    click.echo(f"lots from the ERP: {len(lots)}, {differ} with a quantity other than the EBR's (ebr erp inventory)")


@group.command("inventory")
@click.option("--differences", is_flag=True, help="Only lots whose ERP quantity differs from the EBR's.")
def inventory(differences: bool) -> None:
    """Lots the ERP reported: the EBR's status and quantity beside the ERP's, and the difference."""
    with services().session_factory() as session:
        lines = masterdata.inventory(session, differences_only=differences)
    if not lines:
        click.echo("no lots from the ERP" + (" with a difference" if differences else ""))
        return
    click.echo(f"{'lot':<22} {'material':<12} {'EBR status':<11} {'ERP status':<22} {'EBR qty':>14} {'ERP qty':>14} "
               f"{'ERP - EBR':>12} unit")  # fmt: skip
    for line in lines:
        erp_qty = "-" if line.erp_quantity is None else f"{line.erp_quantity:f}"
        diff = "-" if line.difference is None else f"{line.difference:+f}"
        click.echo(
            f"{line.lot_number:<22} {line.material:<12} {line.ebr_status:<11} {line.erp_status or '-':<22} "
            f"{line.ebr_quantity:>14f} {erp_qty:>14} {diff:>12} {line.unit}"
        )


@group.command("worker")
@click.option("--once", is_flag=True, help="One delivery pass and one pass of the inbound folder, then exit.")
@click.option("--consume/--no-consume", default=True, show_default=True, help="Also consume the AMQP inbound queue.")
def worker(once: bool, consume: bool) -> None:
    """Deliver the outbox (and take inbound orders from the folder or the AMQP queue) until stopped."""
    wiring = build(services())
    delivery = wiring.worker()
    erp = wiring.settings.channel("erp")
    lims = wiring.settings.channel("lims")
    try:
        if once:
            done = delivery.run_once()
            imported: list[object] = list(wiring.import_folder()) if erp.transport == "folder" else []
            if lims.transport == "folder":
                imported += wiring.import_lims_folder()
            click.echo(f"sent {done.sent}, failed {done.failed}, dead {done.dead}; imported {len(imported)} file(s)")
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        if consume and erp.transport == "amqp":
            consumer = wiring.consumer()
            threading.Thread(target=consumer.run_until, args=(stop,), daemon=True).start()
        if consume and lims.transport == "amqp":
            threading.Thread(target=wiring.lims_consumer().run_until, args=(stop,), daemon=True).start()
        click.echo(f"delivering ({', '.join(delivery.transports)}); stop with Ctrl-C")
        try:
            while not stop.is_set():
                if erp.transport == "folder":
                    wiring.import_folder()
                if lims.transport == "folder":
                    wiring.import_lims_folder()
                delivery.run_once()
                stop.wait(0.05)
        except KeyboardInterrupt:
            stop.set()
    finally:
        delivery.close()


@group.group("token")
def token() -> None:
    """Machine tokens for POST /api/integration/b2mml."""


@token.command("create")
@click.argument("name")
@click.option("--scope", type=click.Choice(tokens.SCOPES), default=tokens.INBOUND, show_default=True)
@click.option("--actor", default="admin", show_default=True)
def token_create(name: str, scope: str, actor: str) -> None:
    """Create a token for the system NAME (shown once: store it in the ERP's or LIMS's configuration)."""
    svc = services()
    with unit_of_work(svc.session_factory) as session:
        secret = tokens.create(session, audit=svc.audit, clock=svc.clock, actor=actor, name=name, scope=scope)
    click.echo(secret)


@token.command("revoke")
@click.argument("name")
@click.option("--reason", required=True)
@click.option("--actor", default="admin", show_default=True)
def token_revoke(name: str, reason: str, actor: str) -> None:
    """Revoke the token of NAME at once."""
    svc = services()
    with unit_of_work(svc.session_factory) as session:
        tokens.revoke(session, audit=svc.audit, clock=svc.clock, actor=actor, name=name, reason=reason)
    click.echo(f"token {name} revoked")


@token.command("list")
def token_list() -> None:
    """Every token: name, scope, created, last used, revoked."""
    with services().session_factory() as session:
        for row in tokens.tokens(session):
            state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
            used = f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never"
            click.echo(f"{row.name:<24} {row.scope:<14} {state:<18} last used {used}")


@click.group("api-token")
def api_token() -> None:
    """API tokens for machine clients of the JSON API: scoped, expiring, revocable; they never sign."""


def _person(user: str, password_stdin: bool) -> str:
    """Authenticate ``user`` (password from stdin or prompted, hidden) and return the id."""
    password = (
        sys.stdin.readline().rstrip("\n") if password_stdin else click.prompt(f"password of {user}", hide_input=True)
    )
    svc = services()
    with unit_of_work(svc.session_factory) as session:
        return str(svc.users.authenticate(session, user.strip().lower(), str(password)).user_id)


@api_token.command("create")
@click.argument("name")
@click.option("--user", required=True, help="You: the token acts for you, within your roles.")
@click.option("--password-stdin", is_flag=True, help="Read your password from standard input.")
@click.option("--scope", "scopes", multiple=True, required=True,
              help="A permission action (recipe.view) or group (recipe, audit, read); repeat for more.")  # fmt: skip
@click.option("--days", type=click.IntRange(1, tokens.MAX_LIFETIME.days), default=90, show_default=True,
              help="Days until the token expires.")  # fmt: skip
def api_token_create(name: str, user: str, password_stdin: bool, scopes: tuple[str, ...], days: int) -> None:
    """Make token NAME for a machine client; it is printed once (store it in the client's secrets)."""
    import datetime as dt

    owner = _person(user, password_stdin)
    svc = services()
    with unit_of_work(svc.session_factory) as session:
        secret = tokens.create_api(
            session, audit=svc.audit, clock=svc.clock, users=svc.users, owner=owner, name=name,
            scopes=scopes, expires_at=svc.clock.now() + dt.timedelta(days=days),
        )  # fmt: skip
    click.echo(secret)


@api_token.command("list")
def api_token_list() -> None:
    """Every API token: name, owner, state, expiry, last use, scopes (never the secret)."""
    with services().session_factory() as session:
        rows = tokens.api_tokens(session)
        click.echo(f"{'name':<24} {'owner':<16} {'state':<18} {'expires':<17} {'last used':<17} scopes")
        for row in rows:
            state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
            expires = f"{row.expires_at:%Y-%m-%d %H:%M}" if row.expires_at else "-"
            used = f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never"
            click.echo(f"{row.name:<24} {row.owner or '-':<16} {state:<18} {expires:<17} {used:<17} {row.scopes}")


@api_token.command("revoke")
@click.argument("name")
@click.option("--user", required=True, help="You: the token's owner or an administrator.")
@click.option("--password-stdin", is_flag=True, help="Read your password from standard input.")
@click.option("--reason", required=True, help="Why the token is withdrawn.")
def api_token_revoke(name: str, user: str, password_stdin: bool, reason: str) -> None:
    """Revoke API token NAME at once (its owner, or a user who manages integrations)."""
    from ebr.core.errors import NotFound
    from signatures.permissions import require

    actor = _person(user, password_stdin)
    svc = services()
    with unit_of_work(svc.session_factory) as session:
        row = next((r for r in tokens.api_tokens(session) if r.name == name), None)
        if row is None:
            raise NotFound(f"no API token named {name!r}; `ebr api-token list` shows them")
        if row.owner != actor:
            require(svc.users.get(session, actor).roles, "integration.manage")
        tokens.revoke(session, audit=svc.audit, clock=svc.clock, actor=actor, name=name, reason=reason)
    click.echo(f"API token {name} revoked")


def register(main: click.Group) -> None:
    main.add_command(group)
    main.add_command(api_token)
