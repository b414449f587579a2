"""``ebr equipment …``: record a cleaning, calibrate, record maintenance, show a unit's status
and logbook.

Who records proves it with a password (prompted, or one line on standard input with
``--password-stdin``; a calibration is also signed "calibrated" with it) and needs
``equipment.clean`` (operator, supervisor) or ``equipment.calibrate`` / ``equipment.maintain``
(supervisor, QA); the logbook needs ``equipment.view``.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import click

from ebr.cli.context import services
from ebr.core.db import unit_of_work
from ebr.maintenance import services as maintenance


def _actor(user: str, password_stdin: bool, action: str) -> str:
    return _proved(user, password_stdin, action)[0]


def _proved(user: str, password_stdin: bool, action: str) -> tuple[str, str]:
    """The user id and password of ``user``, authenticated and allowed ``action``."""
    from signatures.permissions import require

    password = (
        sys.stdin.readline().rstrip("\n") if password_stdin else click.prompt(f"password of {user}", hide_input=True)
    )
    svc = services()
    with svc.session_factory.begin() as session:
        found = svc.users.authenticate(session, user, str(password))
        require(found.roles, action)
        return found.user_id, str(password)


def _who(func: Any) -> Any:
    func = click.option("--password-stdin", is_flag=True, help="Read your password from standard input.")(func)
    return click.option("--user", required=True, help="Your user id.")(func)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:  # a time typed without zone is plant time
        import zoneinfo

        return value.replace(tzinfo=zoneinfo.ZoneInfo(services().settings.plant_timezone))
    return value


@click.group("equipment")
def group() -> None:
    """Calibration, maintenance and the logbook of a unit."""


@group.command("clean")
@click.argument("tag")
@click.option("--method", required=True, help="The cleaning method or SOP.")
@click.option("--comment", default="")
@_who
def clean(tag: str, method: str, comment: str, user: str, password_stdin: bool) -> None:
    """Record a cleaning of TAG (operator, supervisor): it is clean until its clean hold ends."""
    actor = _actor(user, password_stdin, "equipment.clean")
    svc = services()
    with unit_of_work(svc.session_factory) as session:
        row = svc.equipment.record_cleaning(session, actor=actor, unit=tag, method=method.strip(), comment=comment)
        until = f", clean until {row.expires_at.isoformat()}" if row.expires_at else ""
    click.echo(f"{tag}: cleaning recorded by {actor}{until} (record {row.id})")


@group.command("calibrate")
@click.argument("tag")
@click.option("--passed/--failed", required=True, help="The result of the calibration.")
@click.option("--certificate", default="", help="Certificate reference.")
@click.option("--as-found", default="", help="What the instrument read before adjustment.")
@click.option("--as-left", default="", help="What it read after adjustment.")
@click.option("--performed-by", default=None, help="User id who calibrated (default: you), or a contractor's name.")
@click.option("--contractor", is_flag=True, help="--performed-by is a contractor's name.")
@click.option("--at", "at", type=click.DateTime(), default=None, help="When (plant time; default now).")
@click.option("--next-due", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="Next due (plant date).")
@click.option("--comment", default="")
@_who
def calibrate(
    tag: str, passed: bool, certificate: str, as_found: str, as_left: str, performed_by: str | None, contractor: bool,
    at: dt.datetime | None, next_due: dt.datetime | None, comment: str, user: str, password_stdin: bool,
) -> None:  # fmt: skip
    """Record a calibration of TAG, signed "calibrated" with your password. A failed one takes TAG to
    maintenance and lists the batches to assess."""
    actor, password = _proved(user, password_stdin, "equipment.calibrate")
    svc = services()
    data = {
        "passed": passed, "certificate": certificate, "as_found": as_found, "as_left": as_left,
        "performed_by": performed_by, "contractor": contractor, "calibrated_at": _aware(at),
        "next_due": next_due.date() if next_due else None, "comment": comment,
    }  # fmt: skip
    with unit_of_work(svc.session_factory) as session:
        row = maintenance.calibrate(session, svc, actor=actor, tag=tag, data=data, user_id=actor, password=password)
        result = maintenance.calibration_json(session, svc.equipment, row)
    signed = result["signature"]
    click.echo(f"{tag}: calibration signed {signed['meaning']} by {signed['printed_name']} ({signed['signer']})")
    if passed:
        click.echo(f"{tag}: calibration passed, next due {result['due_at'].date().isoformat()} (record {row.id})")
        return
    click.echo(f"{tag}: calibration FAILED; {tag} is now {result['status']} (record {row.id})")
    batches = result["impact"]["batches"]
    since = result["impact"]["since"].isoformat()
    click.echo(f"batches that used {tag} since its last passing calibration ({since}): {len(batches)}")
    for u in batches:
        click.echo(f"  {u['batch']}\t{u['recipe']}\t{u['started_at'].isoformat()}\t{', '.join(u['steps'])}")


@group.command("maintain")
@click.argument("tag")
@click.option("--kind", type=click.Choice(["preventive", "corrective"]), required=True)
@click.option("--description", required=True, help="The work done.")
@click.option("--performed-by", default=None, help="Who did it (default: you), or a contractor's name.")
@click.option("--contractor", is_flag=True, help="--performed-by is a contractor's name.")
@click.option("--return-to-service", is_flag=True, help="End maintenance: the unit becomes dirty (clean it next).")
@_who
def maintain(
    tag: str, kind: str, description: str, performed_by: str | None, contractor: bool, return_to_service: bool,
    user: str, password_stdin: bool,
) -> None:  # fmt: skip
    """Record maintenance work on TAG."""
    actor = _actor(user, password_stdin, "equipment.maintain")
    svc = services()
    with unit_of_work(svc.session_factory) as session:
        svc.equipment.record_maintenance(
            session, actor=actor, unit=tag, kind=kind, description=description, performed_by=performed_by,
            contractor=contractor, return_to_service=return_to_service,
        )  # fmt: skip
        status = svc.equipment.get(session, tag).status
    click.echo(f"{tag}: {kind} maintenance recorded; status {status}")


@group.command("status")
@click.argument("tag", required=False)
def status(tag: str | None) -> None:
    """Status of TAG (default: every unit), and why it may not be used now."""
    svc = services()
    with svc.session_factory() as session:
        units = [svc.equipment.get(session, tag)] if tag else svc.equipment.all(session)
        for eq in units:
            s = maintenance.status(session, svc.equipment, eq)
            due = s["calibration_due_at"].date().isoformat() if s["calibration_due_at"] else "-"
            usable = "usable" if s["usable"] else f"NOT usable: {s['problem']}"
            click.echo(f"{eq.tag}\t{s['status']}\tcalibration due {due}\t{usable}")


@group.command("logbook")
@click.argument("tag")
@click.option("--pdf", "pdf", type=click.Path(dir_okay=False, path_type=Path), help="Write the logbook as PDF.")
def logbook(tag: str, pdf: Path | None) -> None:
    """Print the logbook of TAG: usage, cleaning, calibration, maintenance and status changes."""
    svc = services()
    with svc.session_factory() as session:
        lines = maintenance.timeline(session, svc.equipment, tag)
        eq = svc.equipment.get(session, tag)
        name = eq.name
    if pdf is not None:
        from ebr.maintenance import printing

        pdf.write_bytes(printing.logbook_pdf(svc, tag=tag, name=name, lines=lines))
        click.echo(f"wrote {pdf}: logbook of {tag}, {len(lines)} lines")
        return
    for line in lines:
        ref = f"\t[{line.reference}]" if line.reference else ""
        click.echo(f"{line.at.isoformat()}\t{line.kind}\t{line.who or '-'}\t{line.what}{ref}")


def register(main: click.Group) -> None:
    main.add_command(group)
