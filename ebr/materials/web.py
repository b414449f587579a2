"""Pages of the warehouse and QA: the material master (/materials/), lots with their
containers, stock, samples, labels and QA's signed decisions (/lots/), and the genealogy
(/genealogy/) drawn as a graph with its table and a PDF for a recall.

Forms are made for the shop-floor tablet (large targets, one action per button). The
graph is a separate ``image/svg+xml`` response drawn by Graphviz: pages never inline
SVG, so the site's CSP holds.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from ebr.core.errors import ValidationError
from ebr.execution.service import build
from ebr.materials import labels, tracing, warehouse
from ebr.materials.models import Material
from ebr.materials.services import Credentials, MaterialService
from ebr.web import access
from ebr.web.helpers import field, read, services, version_field, work

bp = Blueprint("materials", __name__, template_folder="templates")

SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'"


def _materials() -> MaterialService:
    return build(services()).materials


def _date(name: str, label: str, *, required: bool = True) -> dt.date | None:
    raw = field(name, label, required=required)
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ValidationError(f"{label} {raw!r} is not a date; use YYYY-MM-DD", [f"{label}: YYYY-MM-DD"]) from None


def _signer(meaning: str) -> Credentials:
    return Credentials(field("sig_user", "User id").lower(), field("sig_password", "Password"), meaning)


# -- material master ----------------------------------------------------------------


@bp.get("/materials/")
@access.requires("material.view")
def materials() -> ResponseReturnValue:
    with read() as session:
        found = list(session.scalars(select(Material).order_by(Material.code)))
    return render_template("materials/materials.html", materials=found)


@bp.post("/materials/")
@access.requires("material.manage")
def create_material() -> ResponseReturnValue:
    raw_days = field("retest_interval_days", "Retest interval", required=False)
    if raw_days and not raw_days.isdigit():
        raise ValidationError(f"retest interval {raw_days!r} is not a whole number of days")
    with work() as session:
        made = _materials().create_material(
            session,
            actor=access.user_id(),
            code=field("code", "Code"),
            name=field("name", "Name"),
            unit=field("unit", "Unit"),
            storage=field("storage", "Storage", required=False),
            retest_interval_days=int(raw_days) if raw_days else None,
            potency_applies=request.form.get("potency_applies") == "on",
            label_text=field("label_text", "Label text", required=False),
        )
        code = made.code
    flash(f"Material {code} added to the master.")
    return redirect(url_for("materials.materials"))


# -- lots ----------------------------------------------------------------------------


@bp.get("/lots/")
@access.requires("lot.view")
def lots() -> ResponseReturnValue:
    status = (request.args.get("status") or "").strip() or None
    with read() as session:
        found = [lot for lot in _materials().lots(session) if status is None or lot.status == status]
        codes = list(session.scalars(select(Material.code).order_by(Material.code)))
    return render_template("materials/lots.html", lots=found, codes=codes, status=status, today=_today())


def _today() -> dt.date:
    return services().clock.now().date()


_SPLIT = re.compile(r"[\s,;]+")


def _containers() -> list[str]:
    listed = (request.form.get("quantities") or "").strip()
    if listed:
        return [q for q in _SPLIT.split(listed) if q]
    count = field("container_count", "Number of containers")
    if not count.isdigit() or not 1 <= int(count) <= warehouse.MAX_CONTAINERS:
        raise ValidationError(f"number of containers {count!r}: give 1 to {warehouse.MAX_CONTAINERS}")
    return [field("container_quantity", "Quantity per container")] * int(count)


@bp.post("/lots/")
@access.requires("lot.manage")
def receive() -> ResponseReturnValue:
    with work() as session:
        lot = warehouse.receive_goods(
            _materials(),
            session,
            actor=access.user_id(),
            material=field("material", "Material"),
            lot_number=field("lot_number", "Lot number"),
            supplier=field("supplier", "Supplier"),
            supplier_lot=field("supplier_lot", "Supplier lot"),
            containers=_containers(),
            expires_on=_date("expires_on", "Expiry date") or _today(),
            retest_on=_date("retest_on", "Retest date", required=False),
            received_on=_date("received_on", "Receipt date", required=False),
            potency=field("potency", "Potency", required=False) or None,
        )
        number = lot.lot_number
    flash(f"Lot {number} received in quarantine. Print its labels now.")
    return redirect(url_for("materials.lot", lot_number=number))


@bp.get("/lots/<lot_number>")
@access.requires("lot.view")
def lot(lot_number: str) -> ResponseReturnValue:
    mats = _materials()
    with read() as session:
        found = mats.lot(session, lot_number)
        context: dict[str, Any] = {
            "lot": found,
            "material": mats.material(session, found.material_code),
            "stock": warehouse.stock(session, found),
            "samples": warehouse.samples(session, found),
            "history": warehouse.history(session, found),
            "today": _today(),
        }
    return render_template("materials/lot.html", **context)


@bp.post("/lots/<lot_number>/decision")
@access.requires("lot.status.change")
def decide(lot_number: str) -> ResponseReturnValue:
    action = field("action", "Decision")
    meaning = {"release": "released", "reject": "rejected"}.get(action, "approved")
    with work() as session:
        warehouse.disposition(
            _materials(),
            session,
            actor=access.user_id(),
            lot_number=lot_number,
            action=action,
            reason=field("reason", "Reason"),
            signer=_signer(meaning),
            version=version_field(),
        )
    flash(f"Lot {lot_number}: {action} signed.")
    return redirect(url_for("materials.lot", lot_number=lot_number))


@bp.post("/lots/<lot_number>/retest")
@access.requires("lot.status.change")
def retest(lot_number: str) -> ResponseReturnValue:
    with work() as session:
        warehouse.retest(
            _materials(),
            session,
            actor=access.user_id(),
            lot_number=lot_number,
            retest_on=_date("retest_on", "Next retest date") or _today(),
            reason=field("reason", "Reason"),
            signer=_signer("approved"),
        )
    flash(f"Lot {lot_number}: retest recorded and signed.")
    return redirect(url_for("materials.lot", lot_number=lot_number))


@bp.post("/lots/<lot_number>/samples")
@access.requires("lot.manage")
def sample(lot_number: str) -> ResponseReturnValue:
    with work() as session:
        warehouse.take_sample(
            _materials(),
            session,
            actor=access.user_id(),
            lot_number=lot_number,
            barcode=field("container", "Container"),
            amount=field("quantity", "Quantity"),
            purpose=field("purpose", "Purpose"),
        )
    flash(f"Sample taken from lot {lot_number}.")
    return redirect(url_for("materials.lot", lot_number=lot_number))


@bp.get("/lots/<lot_number>/labels.pdf")
@access.requires("lot.view")
def labels_pdf(lot_number: str) -> ResponseReturnValue:
    with read() as session:
        found = warehouse.labels_of(_materials(), session, lot_number)
    name = labels.attachment_name("labels", lot_number, suffix="pdf")
    headers = {"Content-Disposition": f'inline; filename="{name}"'}
    return Response(labels.labels_pdf(found), mimetype="application/pdf", headers=headers)


@bp.get("/lots/<lot_number>/labels.zpl")
@access.requires("lot.view")
def labels_zpl(lot_number: str) -> ResponseReturnValue:
    with read() as session:
        found = warehouse.labels_of(_materials(), session, lot_number)
    name = labels.attachment_name("labels", lot_number, suffix="zpl")
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(labels.labels_zpl(found), mimetype="text/plain", headers=headers)


# -- genealogy -----------------------------------------------------------------------

KINDS = ("lot", "batch")


def _trace(kind: str, ref: str) -> tracing.Trace:
    if kind not in KINDS:
        raise ValidationError(f"trace a lot or a batch, not {kind!r}")
    with read() as session:
        return tracing.of_lot(session, ref) if kind == "lot" else tracing.of_batch(session, ref)


@bp.get("/genealogy/")
@access.requires("lot.view")
def genealogy() -> ResponseReturnValue:
    kind, ref = (request.args.get("kind") or "lot").strip(), (request.args.get("ref") or "").strip()
    if ref:
        return redirect(url_for("materials.trace", kind=kind, ref=ref))
    return render_template("materials/genealogy.html", trace=None, rows=[], kind=kind)


@bp.get("/genealogy/<kind>/<ref>")
@access.requires("lot.view")
def trace(kind: str, ref: str) -> ResponseReturnValue:
    found = _trace(kind, ref)
    drawn = found.size <= tracing.MAX_DRAWN_NODES
    return render_template("materials/genealogy.html", trace=found, rows=tracing.rows(found), kind=kind, drawn=drawn)


@bp.get("/genealogy/<kind>/<ref>/graph.svg")
@access.requires("lot.view")
def trace_svg(kind: str, ref: str) -> ResponseReturnValue:
    response = Response(tracing.svg(_trace(kind, ref)), mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = SVG_CSP
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/genealogy/<kind>/<ref>/trace.pdf")
@access.requires("lot.view")
def trace_pdf(kind: str, ref: str) -> ResponseReturnValue:
    found = _trace(kind, ref)
    printed = tracing.pdf(found, printed_by=access.user_id(), printed_at=services().clock.now())
    name = labels.attachment_name("trace", kind, ref, suffix="pdf")
    headers = {"Content-Disposition": f'inline; filename="{name}"'}
    return Response(printed, mimetype="application/pdf", headers=headers)
