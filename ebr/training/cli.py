"""``ebr training …``: curricula, requirements, training records, a person's standing, expiries.

Who changes something proves it with a password (prompted, or the first line of standard
input with ``--password-stdin``). ``ebr training record`` also needs the trainee's signature:
the trainee types their password at the prompt (or it is the second line of standard input).
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

import click

from ebr.cli.context import services
from ebr.core.db import unit_of_work
from ebr.training.services import TrainingService, build


def _training() -> TrainingService:
    return build(services())


def _password(user: str, password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt(f"password of {user}", hide_input=True))


def _actor(user: str, password_stdin: bool, action: str) -> str:
    from signatures.permissions import require

    password = _password(user, password_stdin)
    svc = services()
    with svc.session_factory.begin() as session:
        found = svc.users.authenticate(session, user, password)
        require(found.roles, action)
        return found.user_id


def _who(func: Any) -> Any:
    func = click.option("--password-stdin", is_flag=True, help="Read passwords from standard input, one a line.")(func)
    return click.option("--user", required=True, help="Your user id.")(func)


@click.group("training")
def group() -> None:
    """Training and qualification: curricula, requirements, records, standing, expiries."""


@group.group("curriculum")
def curriculum() -> None:
    """Curricula (named sets of SOPs)."""


@curriculum.command("add")
@click.argument("name")
@click.option("--sop", "sops", multiple=True, help="An SOP reference (repeat for several).")
@click.option(
    "--validity-days", type=click.IntRange(1, 36500), default=None, help="Valid for N days (default: no expiry)."
)
@click.option("--description", default="")
@_who
def curriculum_add(
    name: str, sops: tuple[str, ...], validity_days: int | None, description: str, user: str, password_stdin: bool
) -> None:
    """Add curriculum NAME (QA)."""
    actor = _actor(user, password_stdin, "training.manage")
    with unit_of_work(services().session_factory) as session:
        _training().add_curriculum(
            session, actor=actor, name=name, description=description, sops=sops, validity_days=validity_days
        )
    click.echo(f"curriculum {name!r} added ({len(sops)} SOPs, {validity_days or 'no'} days validity)")


@curriculum.command("list")
def curriculum_list() -> None:
    """Every curriculum."""
    with services().session_factory() as session:
        for c in _training().curricula(session):
            days = f"{c.validity_days} days" if c.validity_days else "no expiry"
            click.echo(f"{c.name}\t{days}\t{', '.join(c.sops)}")


@group.group("requirement")
def requirement() -> None:
    """Which phase types, recipes and units require which curriculum."""


@requirement.command("add")
@click.argument("curriculum_name", metavar="CURRICULUM")
@click.option("--phase-type", default=None, help="A phase type (e.g. dosing).")
@click.option("--unit", default=None, help="With --phase-type: only on this unit.")
@click.option("--recipe", default=None, help="A recipe name.")
@click.option("--equipment", default=None, help="An equipment tag.")
@_who
def requirement_add(
    curriculum_name: str, phase_type: str | None, unit: str | None, recipe: str | None, equipment: str | None,
    user: str, password_stdin: bool,
) -> None:  # fmt: skip
    """Require CURRICULUM for a phase type (optionally on a unit), a recipe or a unit (QA)."""
    given = [(k, v) for k, v in (("phase_type", phase_type), ("recipe", recipe), ("equipment", equipment)) if v]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --phase-type, --recipe or --equipment")
    kind, target = given[0]
    actor = _actor(user, password_stdin, "training.manage")
    with unit_of_work(services().session_factory) as session:
        row = _training().add_requirement(
            session, actor=actor, curriculum=curriculum_name, kind=kind, target=target, unit=unit
        )
        rid = row.id
    click.echo(f"{kind.replace('_', ' ')} {target}{f' on {unit}' if unit else ''} requires {curriculum_name!r} ({rid})")


@requirement.command("list")
def requirement_list() -> None:
    """Every requirement."""
    with services().session_factory() as session:
        for r, c in _training().requirements(session):
            on = f" on {r.unit}" if r.unit else ""
            click.echo(f"{r.id}\t{r.kind} {r.target}{on}\t{c.name}")


@requirement.command("remove")
@click.argument("requirement_id")
@click.option("--reason", required=True)
@_who
def requirement_remove(requirement_id: str, reason: str, user: str, password_stdin: bool) -> None:
    """Remove a requirement with a reason (QA)."""
    actor = _actor(user, password_stdin, "training.manage")
    with unit_of_work(services().session_factory) as session:
        _training().remove_requirement(session, actor=actor, requirement_id=requirement_id, reason=reason)
    click.echo(f"requirement {requirement_id} removed")


@group.command("record")
@click.argument("trainee")
@click.argument("curriculum_name", metavar="CURRICULUM")
@click.option("--trained-on", type=click.DateTime(formats=["%Y-%m-%d"]), required=True, help="Plant date.")
@click.option("--expires-on", type=click.DateTime(formats=["%Y-%m-%d"]), default=None)
@click.option("--trainer", default=None, help="Who trained (default: you).")
@click.option("--comment", default="")
@_who
def record(
    trainee: str, curriculum_name: str, trained_on: dt.datetime, expires_on: dt.datetime | None,
    trainer: str | None, comment: str, user: str, password_stdin: bool,
) -> None:  # fmt: skip
    """Record that TRAINEE was trained on CURRICULUM; TRAINEE signs it "trained" (supervisor, QA)."""
    actor = _actor(user, password_stdin, "training.record")
    trainee_password = _password(trainee, password_stdin)
    with unit_of_work(services().session_factory) as session:
        row = _training().record_training(
            session, actor=actor, curriculum=curriculum_name, trainee=trainee, trainer=trainer,
            trained_on=trained_on.date(), expires_on=expires_on.date() if expires_on else None, comment=comment,
            signer=trainee, password=trainee_password,
        )  # fmt: skip
        until = row.expires_on.isoformat() if row.expires_on else "no expiry"
    click.echo(f"training of {trainee} on {curriculum_name!r} recorded, signed by {trainee} (valid until {until})")


@group.command("status")
@click.argument("user_id")
def status(user_id: str) -> None:
    """USER_ID's standing on every curriculum."""
    with services().session_factory() as session:
        found = _training().standing_of(session, [user_id.lower()])[0]
    for q in found.standings.values():
        click.echo(f"{found.user_id}\t{q.describe()}")


@group.command("expiring")
@click.option("--days", type=click.IntRange(0, 3650), default=30, show_default=True)
def expiring(days: int) -> None:
    """Trainings that expire within DAYS (or have expired), soonest first."""
    with services().session_factory() as session:
        found = _training().expiring(session, within_days=days)
        for r, c in found:
            click.echo(f"{r.expires_on}\t{r.trainee}\t{c.name}")
    if not found:
        click.echo(f"no training expires within {days} days")


def register(main: click.Group) -> None:
    main.add_command(group)
