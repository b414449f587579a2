"""An ERP order run through the plant: planned, released to the floor, executed with a consumption, released by QA."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.execution.service import build as build_execution
from ebr.integration.models import ProcessOrder
from ebr.integration.setup import Wiring
from ebr.materials.services import Credentials
from ebr.review import services as release
from tests.integration.execution.conftest import PASSWORD


def sig(user: str, meaning: str = "performed") -> Credentials:
    return Credentials(user_id=user, password=PASSWORD, meaning=meaning)


def receive_lot(services: Services, material: str, lot: str, quantity: str) -> None:
    mats = build_execution(services).materials
    with unit_of_work(services.session_factory) as session:
        mats.receive_lot(
            session, actor="quinn", material=material, lot_number=lot, quantity=Decimal(quantity),
            expires_on=dt.date(2030, 1, 1), containers={f"C-{lot}-1": Decimal(quantity)},
        )  # fmt: skip
        mats.change_status(session, actor="quinn", lot_number=lot, status="released", reason="OK", signer=sig("quinn"))


def planned_batch(services: Services, order_id: str) -> str:
    with services.session_factory() as session:
        number = session.scalars(select(ProcessOrder.batch_number).where(ProcessOrder.order_id == order_id)).one()
    assert number is not None
    return str(number)


def run_to_release(services: Services, erp: Wiring, number: str, *, consume: dict[str, str]) -> None:
    """Release to the floor, execute SIMPLE (consuming ``consume``: container → quantity), review and release."""
    ex = build_execution(services)

    def work(fn: Any, **kwargs: Any) -> Any:
        with unit_of_work(services.session_factory) as session:
            return fn(session, **kwargs)

    work(ex.release_to_floor, actor="sam", ref=number)
    work(ex.start_batch, actor="olga", ref=number)
    with services.session_factory() as session:
        batch_id = ex.batch(session, number).id
    for barcode, quantity in consume.items():
        work(ex.materials.consume, actor="olga", batch_id=batch_id, step_path="UP1.OP1.PH1", barcode=barcode,
             quantity=Decimal(quantity))  # fmt: skip
    for path, values, signers in (
        ("UP1.OP1.PH1", None, [sig("olga")]),
        ("UP1.OP1.PH2", None, [sig("olga"), sig("sam", "verified")]),
        ("UP1.OP1.PH3", {"value": "25"}, [sig("olga")]),
        ("UP1.OP2.PH1", {"sample_id": "S-1"}, [sig("olga")]),
        ("UP1.OP2.PH2", None, [sig("olga")]),
        ("UP1.OP2.PH3", None, [sig("olga"), sig("sue", "verified")]),
    ):
        work(ex.start_step, actor="olga", ref=number, path=path)
        work(ex.complete_step, actor="olga", ref=number, path=path, values=values, signatures=signers)
    for user, decision in (("quinn", "reviewed"), ("queenie", "released")):
        work(
            lambda session, user=user, decision=decision: release.decide(
                session, ex.ctx, actor=user, ref=number, decision=decision, signature=sig(user, decision)
            )
        )
