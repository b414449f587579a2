"""``/api/materials`` and ``/api/lots``: the material master, goods receipt, containers and
their stock, samples, labels (PDF, ZPL), QA's signed release / reject / quarantine and
retest, and traces. Every error is the shared ``ErrorOut``; nothing is stored on error.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from sqlalchemy import select

from ebr.api.common import actor, blueprint, execution, own_credentials, work
from ebr.materials import genealogy, labels, tracing, warehouse
from ebr.materials.models import Lot, LotSample, Material
from ebr.materials.schemas import (
    DispositionIn,
    LotIn,
    LotOut,
    LotStatusIn,
    MaterialIn,
    MaterialOut,
    ReceiptIn,
    RetestIn,
    SampleIn,
    SampleOut,
    StockOut,
    TraceGraphOut,
    TraceOut,
)
from ebr.materials.services import lot_json
from ebr.web import access

blp = blueprint("api_materials", "/api", "Materials, lots and containers")

_PDF = {"200": {"description": "the labels", "content": {"application/pdf": {"schema": {"type": "string"}}}}}
_ZPL = {"200": {"description": "ZPL II", "content": {"text/plain": {"schema": {"type": "string"}}}}}


def _lot(session: Any, lot: Lot) -> dict[str, Any]:
    containers = {c.barcode: c.quantity for c in execution().materials.containers(session, lot)}
    return lot_json(lot) | {"containers": containers, "version": lot.version}


@blp.route("/materials", methods=["GET"])
@access.requires("material.view")
@blp.response(200, MaterialOut(many=True))
def materials() -> list[Material]:
    """The material master."""
    with work() as session:
        return list(session.scalars(select(Material).order_by(Material.code)))


@blp.route("/materials", methods=["POST"])
@access.requires("material.manage")
@blp.arguments(MaterialIn)
@blp.response(201, MaterialOut)
def create_material(data: dict[str, Any]) -> Material:
    """Add a material to the master (unit, storage, retest interval, potency, label text)."""
    with work() as session:
        return execution().materials.create_material(session, actor=actor(), **data)


@blp.route("/materials/<code>", methods=["GET"])
@access.requires("material.view")
@blp.response(200, MaterialOut)
def material(code: str) -> Material:
    """One material of the master."""
    with work() as session:
        return execution().materials.material(session, code)


@blp.route("/lots", methods=["GET"])
@access.requires("lot.view")
@blp.response(200, LotOut(many=True))
def lots() -> list[dict[str, Any]]:
    """Every lot with its containers."""
    with work() as session:
        return [_lot(session, lot) for lot in execution().materials.lots(session)]


@blp.route("/lots", methods=["POST"])
@access.requires("lot.manage")
@blp.arguments(LotIn)
@blp.response(201, LotOut)
def receive(data: dict[str, Any]) -> dict[str, Any]:
    """Receive a lot (in quarantine) in one or more containers named by the caller (barcode → quantity)."""
    with work() as session:
        lot = execution().materials.receive_lot(session, actor=actor(), **data)
        return _lot(session, lot)


@blp.route("/lots/receipts", methods=["POST"])
@access.requires("lot.manage")
@blp.arguments(ReceiptIn)
@blp.response(201, LotOut)
def receive_goods(data: dict[str, Any]) -> dict[str, Any]:
    """Goods receipt of a supplier's lot into N containers (barcodes ``<lot>-001`` …), in quarantine."""
    with work() as session:
        lot = warehouse.receive_goods(execution().materials, session, actor=actor(), **data)
        return _lot(session, lot)


@blp.route("/lots/<lot_number>", methods=["GET"])
@access.requires("lot.view")
@blp.response(200, LotOut)
def lot(lot_number: str) -> dict[str, Any]:
    """One lot with its containers."""
    with work() as session:
        return _lot(session, execution().materials.lot(session, lot_number))


@blp.route("/lots/<lot_number>/status", methods=["POST"])
@access.requires("lot.status.change")
@blp.arguments(LotStatusIn)
@blp.response(200, LotOut)
def change_status(data: dict[str, Any], lot_number: str) -> dict[str, Any]:
    """Change a lot's status (QA, with a signature and a reason)."""
    with work() as session:
        found = execution().materials.change_status(
            session,
            actor=actor(),
            lot_number=lot_number,
            status=data["status"],
            reason=data["reason"],
            signer=own_credentials(data["signature"]),
        )
        return _lot(session, found)


def _decide(action: str, data: dict[str, Any], lot_number: str) -> dict[str, Any]:
    with work() as session:
        found = warehouse.disposition(
            execution().materials,
            session,
            actor=actor(),
            lot_number=lot_number,
            action=action,
            reason=data["reason"],
            signer=own_credentials(data["signature"]),
            version=data["version"],
        )
        return _lot(session, found)


@blp.route("/lots/<lot_number>/release", methods=["POST"])
@access.requires("lot.status.change")
@blp.arguments(DispositionIn)
@blp.response(200, LotOut)
def release(data: dict[str, Any], lot_number: str) -> dict[str, Any]:
    """QA releases the lot, signing ``released`` as themselves (refused past expiry or retest)."""
    return _decide("release", data, lot_number)


@blp.route("/lots/<lot_number>/reject", methods=["POST"])
@access.requires("lot.status.change")
@blp.arguments(DispositionIn)
@blp.response(200, LotOut)
def reject(data: dict[str, Any], lot_number: str) -> dict[str, Any]:
    """QA rejects the lot, signing ``rejected`` (final)."""
    return _decide("reject", data, lot_number)


@blp.route("/lots/<lot_number>/quarantine", methods=["POST"])
@access.requires("lot.status.change")
@blp.arguments(DispositionIn)
@blp.response(200, LotOut)
def quarantine(data: dict[str, Any], lot_number: str) -> dict[str, Any]:
    """QA puts a released lot back in quarantine, signing ``approved``."""
    return _decide("quarantine", data, lot_number)


@blp.route("/lots/<lot_number>/retest", methods=["POST"])
@access.requires("lot.status.change")
@blp.arguments(RetestIn)
@blp.response(200, LotOut)
def retest(data: dict[str, Any], lot_number: str) -> dict[str, Any]:
    """QA records a passed retest and the next retest date, signed ``approved``."""
    with work() as session:
        found = warehouse.retest(
            execution().materials,
            session,
            actor=actor(),
            lot_number=lot_number,
            retest_on=data["retest_on"],
            reason=data["reason"],
            signer=own_credentials(data["signature"]),
        )
        return _lot(session, found)


@blp.route("/lots/<lot_number>/samples", methods=["POST"])
@access.requires("lot.manage")
@blp.arguments(SampleIn)
@blp.response(201, SampleOut)
def sample(data: dict[str, Any], lot_number: str) -> LotSample:
    """Take a sample from a container of the lot."""
    with work() as session:
        return warehouse.take_sample(
            execution().materials,
            session,
            actor=actor(),
            lot_number=lot_number,
            barcode=data["container"],
            amount=data["quantity"],
            purpose=data["purpose"],
        )


@blp.route("/lots/<lot_number>/samples", methods=["GET"])
@access.requires("lot.view")
@blp.response(200, SampleOut(many=True))
def samples(lot_number: str) -> list[LotSample]:
    """The samples taken from the lot."""
    with work() as session:
        return warehouse.samples(session, execution().materials.lot(session, lot_number))


@blp.route("/lots/<lot_number>/containers", methods=["GET"])
@access.requires("lot.view")
@blp.response(200, StockOut(many=True))
def containers(lot_number: str) -> list[dict[str, Any]]:
    """Stock per container: received, issued to batches, sampled, remaining."""
    with work() as session:
        return [s.as_json() for s in warehouse.stock(session, execution().materials.lot(session, lot_number))]


@blp.route("/lots/<lot_number>/labels.pdf", methods=["GET"])
@access.requires("lot.view")
@blp.doc(responses=_PDF)
def labels_pdf(lot_number: str) -> Response:
    """The container labels as PDF (Code128 and QR of each container's barcode)."""
    with work() as session:
        found = warehouse.labels_of(execution().materials, session, lot_number)
    name = labels.attachment_name("labels", lot_number, suffix="pdf")
    headers = {"Content-Disposition": f'inline; filename="{name}"'}
    return Response(labels.labels_pdf(found), mimetype="application/pdf", headers=headers)


@blp.route("/lots/<lot_number>/labels.zpl", methods=["GET"])
@access.requires("lot.view")
@blp.doc(responses=_ZPL)
def labels_zpl(lot_number: str) -> Response:
    """The container labels as ZPL II for a label printer."""
    with work() as session:
        found = warehouse.labels_of(execution().materials, session, lot_number)
    return Response(labels.labels_zpl(found), mimetype="text/plain")


@blp.route("/lots/<lot_number>/genealogy", methods=["GET"])
@access.requires("lot.view")
@blp.response(200, TraceOut)
def trace(lot_number: str) -> dict[str, Any]:
    """Where the lot came from and where it went."""
    with work() as session:
        return {
            "backward": genealogy.backward(session, lot_number).as_json(),
            "forward": genealogy.forward(session, lot_number).as_json(),
        }


@blp.route("/lots/<lot_number>/trace", methods=["GET"])
@access.requires("lot.view")
@blp.response(200, TraceGraphOut)
def trace_links(lot_number: str) -> dict[str, Any]:
    """The lot's trace as lots, batches and links (what the genealogy page draws)."""
    with work() as session:
        return tracing.of_lot(session, lot_number).as_json()
