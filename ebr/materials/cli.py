"""``ebr material``, ``ebr lot`` and ``ebr trace``: the material master, goods receipt,
samples, labels and QA's signed decisions without a browser, and the genealogy of a lot
(backward to raw materials, forward to products) or a batch.

Who acts is a user (``--user``) who proves it with a password, prompted (hidden) or one
line of standard input (``--password-stdin``); for a QA decision that password is also
the signature's second component.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Any

import click
from sqlalchemy import select

from ebr.cli.context import services
from ebr.core.canonical import jsonable
from ebr.core.db import unit_of_work
from ebr.core.errors import ValidationError
from ebr.execution.service import build
from ebr.materials import genealogy, warehouse
from ebr.materials.models import Lot, Material
from ebr.materials.services import Credentials, MaterialService, lot_json
from signatures.permissions import require


@click.group("trace")
def group() -> None:
    """Trace lots and batches through the genealogy."""


@group.command("lot")
@click.argument("lot")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def lot(lot: str, as_json: bool) -> None:
    """Where LOT came from (backward) and where it went (forward)."""
    with services().session_factory() as session:
        back = genealogy.backward(session, lot)
        ahead = genealogy.forward(session, lot)
    if as_json:
        click.echo(json.dumps({"backward": back.as_json(), "forward": ahead.as_json()}, indent=2))
        return
    click.echo("backward (made from):")
    for line in back.lines(1):
        click.echo(line)
    click.echo("forward (went into):")
    for line in ahead.lines(1):
        click.echo(line)


@group.command("batch")
@click.argument("batch")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def batch(batch: str, as_json: bool) -> None:
    """The lots BATCH consumed and the lot it made."""
    svc = services()
    with svc.session_factory() as session:
        found = build(svc).batch(session, batch)
        data = genealogy.batch_genealogy(session, found)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"batch {data['batch']}")
    click.echo("inputs:" if data["inputs"] else "inputs: none")
    for item in data["inputs"]:
        click.echo(
            f"  {item['lot']}  {item['material']}  {item['quantity']} {item['unit']}  "
            f"at {item['step']}  from {item['container']}"
        )
    click.echo("outputs: " + (", ".join(data["outputs"]) or "none"))


def _password(password_stdin: bool, user: str, why: str) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt(f"password of {user} ({why})", hide_input=True))


def _user_options(func: Any) -> Any:
    func = click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")(func)
    return click.option("--user", required=True, help="Your user id.")(func)


def _login(user: str, password: str, action: str) -> str:
    svc = services()
    with unit_of_work(svc.session_factory) as session:
        found = svc.users.authenticate(session, user.strip().lower(), password)
    require(found.roles, action)
    return found.user_id


def _mats() -> MaterialService:
    return build(services()).materials


def _date(value: str | None, label: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{label} {value!r} is not a date; use YYYY-MM-DD") from None


@click.group("material")
def material_group() -> None:
    """The material master: list and add materials."""


@material_group.command("list")
def material_list() -> None:
    """Every material of the master."""
    with services().session_factory() as session:
        for m in session.scalars(select(Material).order_by(Material.code)):
            retest = f"retest {m.retest_interval_days} d" if m.retest_interval_days else "no retest"
            click.echo(f"{m.code}  {m.name}  [{m.unit}]  {m.storage or '-'}  {retest}")


@material_group.command("add")
@click.argument("code")
@click.option("--name", required=True)
@click.option("--unit", required=True, help="kg, g, L, mL, pcs …")
@click.option("--storage", default="", help="Storage conditions printed on the labels.")
@click.option("--retest-days", type=click.IntRange(1, 3660), default=None, help="Retest interval in days.")
@click.option("--potency", is_flag=True, help="Dispensed by potency (the CoA assay is needed at receipt).")
@click.option("--label-text", default="", help="A line printed on every container label.")
@_user_options
def material_add(code: str, name: str, unit: str, storage: str, retest_days: int | None, potency: bool,
                 label_text: str, user: str, password_stdin: bool) -> None:  # fmt: skip
    """Add material CODE to the master."""
    actor = _login(user, _password(password_stdin, user, "log in"), "material.manage")
    with unit_of_work(services().session_factory) as session:
        _mats().create_material(
            session, actor=actor, code=code, name=name, unit=unit, storage=storage,
            retest_interval_days=retest_days, potency_applies=potency, label_text=label_text,
        )  # fmt: skip
    click.echo(f"material {code} added")


@click.group("lot")
def lot_group() -> None:
    """Lots: receive, list, show, sample, labels, release / reject / quarantine, retest."""


def _show(session: Any, lot: Lot) -> list[str]:
    lines = [
        f"lot {lot.lot_number}  {lot.material_code}  {lot.status}  {lot.quantity} {lot.unit}",
        f"supplier {lot.supplier or '-'} lot {lot.supplier_lot or '-'}  received {lot.received_on or '-'}",
        f"expiry {lot.expires_on}  retest {lot.retest_on or '-'}",
        "containers (received / issued / sampled / remaining):",
    ]
    for s in warehouse.stock(session, lot):
        lines.append(f"  {s.barcode}  {s.received or '-'} / {s.issued} / {s.sampled} / {s.remaining} {s.unit}")
    return lines


@lot_group.command("list")
@click.option("--status", type=click.Choice(["quarantine", "released", "rejected", "expired"]))
def lot_list(status: str | None) -> None:
    """Every lot (or those with STATUS)."""
    with services().session_factory() as session:
        for lot in _mats().lots(session):
            if status is None or lot.status == status:
                click.echo(f"{lot.lot_number}  {lot.material_code}  {lot.status}  {lot.quantity} {lot.unit}  "
                           f"expiry {lot.expires_on}  retest {lot.retest_on or '-'}")  # fmt: skip


@lot_group.command("show")
@click.argument("lot")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def lot_show(lot: str, as_json: bool) -> None:
    """One lot with its containers and their stock."""
    with services().session_factory() as session:
        found = _mats().lot(session, lot)
        if as_json:
            data = jsonable(lot_json(found) | {"containers": [s.as_json() for s in warehouse.stock(session, found)]})
            click.echo(json.dumps(data, indent=2))
            return
        for line in _show(session, found):
            click.echo(line)


@lot_group.command("receive")
@click.option("--material", required=True)
@click.option("--lot", "lot_number", required=True, help="Our lot number (containers: LOT-001, LOT-002 …).")
@click.option("--supplier", required=True)
@click.option("--supplier-lot", required=True)
@click.option("--container", "quantities", multiple=True, help="One container's quantity (repeat per container).")
@click.option("--containers", "count", type=click.IntRange(1, warehouse.MAX_CONTAINERS), help="Number of containers…")
@click.option("--quantity", help="…each holding this quantity.")
@click.option("--expires", required=True, help="Expiry date, YYYY-MM-DD.")
@click.option("--retest", help="Retest date (default: the material's interval).")
@click.option("--received", help="Receipt date (default: today).")
@click.option("--potency", help="Potency in % from the CoA.")
@_user_options
def lot_receive(material: str, lot_number: str, supplier: str, supplier_lot: str, quantities: tuple[str, ...],
                count: int | None, quantity: str | None, expires: str, retest: str | None, received: str | None,
                potency: str | None, user: str, password_stdin: bool) -> None:  # fmt: skip
    """Receive a supplier's lot into containers, in quarantine."""
    if count is not None and quantity is not None:
        quantities = quantities + (quantity,) * count
    if not quantities:
        raise ValidationError("give each container with --container Q, or --containers N --quantity Q")
    actor = _login(user, _password(password_stdin, user, "log in"), "lot.manage")
    with unit_of_work(services().session_factory) as session:
        lot = warehouse.receive_goods(
            _mats(), session, actor=actor, material=material, lot_number=lot_number, supplier=supplier,
            supplier_lot=supplier_lot, containers=list(quantities), expires_on=_date(expires, "expiry") or dt.date.min,
            retest_on=_date(retest, "retest date"), received_on=_date(received, "receipt date"), potency=potency,
        )  # fmt: skip
        click.echo(
            f"lot {lot.lot_number} received in quarantine: {len(quantities)} containers, {lot.quantity} {lot.unit}"
        )


@lot_group.command("sample")
@click.argument("lot")
@click.option("--container", required=True)
@click.option("--quantity", required=True)
@click.option("--purpose", required=True)
@_user_options
def lot_sample(lot: str, container: str, quantity: str, purpose: str, user: str, password_stdin: bool) -> None:
    """Take a sample from a container of LOT."""
    actor = _login(user, _password(password_stdin, user, "log in"), "lot.manage")
    with unit_of_work(services().session_factory) as session:
        warehouse.take_sample(_mats(), session, actor=actor, lot_number=lot, barcode=container, amount=quantity,
                              purpose=purpose)  # fmt: skip
    click.echo(f"sample of {quantity} taken from {container}")


@lot_group.command("labels")
@click.argument("lot")
@click.option("--out", required=True, type=click.Path(dir_okay=False, writable=True), help="File to write.")
@click.option("--zpl", is_flag=True, help="ZPL II for a label printer instead of PDF.")
def lot_labels(lot: str, out: str, zpl: bool) -> None:
    """Write the container labels of LOT (PDF, or ZPL with --zpl)."""
    with services().session_factory() as session:
        found = warehouse.labels_of(_mats(), session, lot)
    from ebr.materials import labels  # the label renderers (PDF, barcodes): only this command loads them

    data = labels.labels_zpl(found).encode("utf-8") if zpl else labels.labels_pdf(found)
    with open(out, "wb") as handle:
        handle.write(data)
    click.echo(f"{len(found)} labels written to {out}")


def _decision(action: str) -> Any:
    @_user_options
    @click.option("--reason", required=True)
    @click.argument("lot")
    def command(lot: str, reason: str, user: str, password_stdin: bool) -> None:
        meaning = {"release": "released", "reject": "rejected"}.get(action, "approved")
        password = _password(password_stdin, user, f'sign "{meaning}"')
        actor = _login(user, password, "lot.status.change")
        with unit_of_work(services().session_factory) as session:
            found = warehouse.disposition(
                _mats(), session, actor=actor, lot_number=lot, action=action, reason=reason,
                signer=Credentials(actor, password, meaning),
            )  # fmt: skip
            click.echo(f"lot {found.lot_number} is now {found.status} (signed {meaning} by {actor})")

    command.__doc__ = f"QA: {action} LOT with your signature and a reason."
    return command


for _action in ("release", "reject", "quarantine"):
    lot_group.command(_action)(_decision(_action))


@lot_group.command("retest")
@click.argument("lot")
@click.option("--next", "next_date", required=True, help="The next retest date, YYYY-MM-DD.")
@click.option("--reason", required=True, help="The retest report's reference.")
@_user_options
def lot_retest(lot: str, next_date: str, reason: str, user: str, password_stdin: bool) -> None:
    """QA: record a passed retest of LOT and its next retest date, signed."""
    password = _password(password_stdin, user, 'sign "approved"')
    actor = _login(user, password, "lot.status.change")
    with unit_of_work(services().session_factory) as session:
        warehouse.retest(_mats(), session, actor=actor, lot_number=lot, retest_on=_date(next_date, "next retest")
                         or dt.date.min, reason=reason, signer=Credentials(actor, password, "approved"))  # fmt: skip
    click.echo(f"lot {lot}: retest recorded, next retest {next_date}")


def register(main: click.Group) -> None:
    main.add_command(group)
    main.add_command(material_group)
    main.add_command(lot_group)
