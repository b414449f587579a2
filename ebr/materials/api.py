"""``/api/materials`` and ``/api/lots``: the material master, lots, containers, status changes, traces."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ebr.api.common import actor, blueprint, credentials, execution, work
from ebr.api.schemas import LotIn, LotOut, LotStatusIn, MaterialIn, MaterialOut, TraceOut
from ebr.materials import genealogy
from ebr.materials.models import Lot, Material
from ebr.materials.services import lot_json
from ebr.web import access

blp = blueprint("api_materials", "/api", "Materials, lots and containers")


def _lot(session: Any, lot: Lot) -> dict[str, Any]:
    containers = {c.barcode: c.quantity for c in execution().materials.containers(session, lot)}
    return lot_json(lot) | {"containers": containers}


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
    """Add a material to the master."""
    with work() as session:
        return execution().materials.create_material(session, actor=actor(), **data)


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
    """Receive a lot (in quarantine) in one or more containers (barcode → quantity)."""
    with work() as session:
        lot = execution().materials.receive_lot(session, actor=actor(), **data)
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
            signer=credentials(data["signature"]),
        )
        return _lot(session, found)


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
