"""``/api/materials`` and ``/api/lots``: master, goods receipt, samples, stock, labels, QA's
signed decisions and retest — every operation on both databases, and the ways around them
an attacker would try first."""

from __future__ import annotations

import datetime as dt
import subprocess
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import func, select

from audit.models import AuditEvent
from ebr.core.errors import ValidationError
from ebr.materials.models import Lot, LotSample, LotStatusChange
from signatures.models import Signature
from tests.integration.execution.api_support import Api
from tests.integration.execution.conftest import Floor
from tests.integration.execution.test_materials import _scan, _weigh_step
from tests.integration.materials.support import decide, material, receipt, receive, today


def count(floor: Floor, model: type) -> int:
    with floor.services.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def actions(floor: Floor, action: str) -> int:
    with floor.services.session_factory() as session:
        query = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
        return int(session.scalar(query) or 0)


@pytest.fixture
def quinn(app: Flask, floor: Floor) -> Api:
    return Api(app.test_client(), "quinn")


@pytest.mark.requirement("URS-MAT-001")
def test_the_material_master_keeps_storage_retest_potency_and_label_text(floor: Floor, quinn: Api) -> None:
    made = material(quinn, "RM-P", retest_interval_days=365, potency_applies=True, label_text="Keep dry.")
    assert made["storage"] == "15-25 °C, dry"
    assert made["retest_interval_days"] == 365
    got = quinn.call("GET", "/api/materials/RM-P")
    assert (got["potency_applies"], got["label_text"]) == (True, "Keep dry.")
    assert [m["code"] for m in quinn.call("GET", "/api/materials")] == ["RM-P"]
    assert actions(floor, "material.created") == 1
    refused = quinn.call("POST", "/api/materials", {"code": "RM-Q", "name": "Q", "unit": "parsecs"}, expect=422)
    assert "unit 'parsecs'" in refused["message"]


@pytest.mark.requirement("URS-MAT-002")
def test_goods_receipt_makes_numbered_containers_in_quarantine_with_supplier_and_dates(
    floor: Floor, quinn: Api
) -> None:
    material(quinn, retest_interval_days=180)
    lot = receive(quinn, floor.services)
    day = today(floor.services)
    assert lot["status"] == "quarantine"
    assert (lot["supplier"], lot["supplier_lot"]) == ("Acme Chemicals", "AC-7781")
    assert lot["received_on"] == day.isoformat()
    assert lot["retest_on"] == (day + dt.timedelta(days=180)).isoformat()
    assert lot["containers"] == {"L-100-001": "25.000", "L-100-002": "25.000", "L-100-003": "10.500"}
    assert Decimal(lot["quantity"]) == Decimal("60.500")
    assert quinn.call("GET", "/api/lots/L-100")["lot_number"] == "L-100"
    assert [x["lot_number"] for x in quinn.call("GET", "/api/lots")] == ["L-100"]
    assert actions(floor, "lot.received") == 1


@pytest.mark.requirement("URS-MAT-003")
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"containers": ["10", "-1"]}, "container 2: quantity -1 must be greater than zero"),
        ({"containers": ["0"]}, "container 1: quantity 0 must be greater than zero"),
        ({"expires_on": "2001-01-01"}, "is not after the receipt date"),
        ({"retest_on": "2001-01-01"}, "retest date 2001-01-01 must be after receipt"),
        ({"received_on": "2999-01-01"}, "is in the future"),
        ({"supplier": " "}, "supplier is required"),
        ({"potency": "120"}, "potency 120% must be above 0 and at most 100"),
        ({"containers": ["1e30"]}, "is out of range"),
    ],
)
def test_a_wrong_receipt_stores_nothing_and_says_why(floor: Floor, quinn: Api, change: dict, message: str) -> None:
    material(quinn)
    before = actions(floor, "lot.received")
    refused = quinn.call("POST", "/api/lots/receipts", receipt(floor.services, **change), expect=422)
    assert message in " ".join([refused["message"], *refused.get("problems", [])])
    assert count(floor, Lot) == 0
    assert actions(floor, "lot.received") == before


def test_a_potency_material_needs_the_potency_at_receipt(floor: Floor, quinn: Api) -> None:
    material(quinn, potency_applies=True)
    refused = quinn.call("POST", "/api/lots/receipts", receipt(floor.services), expect=422)
    assert "potency is required" in " ".join(refused["problems"])
    assert receive(quinn, floor.services, potency="99.2")["potency"] == "99.2"


@pytest.mark.requirement("URS-MAT-004")
def test_qa_releases_with_a_signature_bound_to_the_lot_and_the_decision_is_audited(floor: Floor, quinn: Api) -> None:
    material(quinn)
    receive(quinn, floor.services)
    released = decide(quinn, "L-100", "release")
    assert released["status"] == "released"
    with floor.services.session_factory() as session:
        change = session.scalars(select(LotStatusChange)).one()
        signed = session.get(Signature, change.signature_id)
        assert signed is not None
        assert (signed.signer, signed.meaning) == ("quinn", "released")
        assert (signed.subject_type, signed.subject_id) == ("lot", "L-100")
    back = decide(quinn, "L-100", "quarantine", signature=quinn.sig("approved"))
    assert back["status"] == "quarantine"
    assert decide(quinn, "L-100", "reject", signature=quinn.sig("rejected"))["status"] == "rejected"
    assert actions(floor, "lot.status.changed") == 3


@pytest.mark.requirement("URS-MAT-005")
def test_an_operator_cannot_release_a_lot_nor_receive_one(app: Flask, floor: Floor, quinn: Api) -> None:
    material(quinn)
    receive(quinn, floor.services)
    olga = Api(app.test_client(), "olga")
    refused = decide(olga, "L-100", "release", expect=403)
    assert (refused["error"] and "lot.status.change" in refused["message"]) or "permission" in refused["message"]
    olga.call("POST", "/api/lots/receipts", receipt(floor.services, "L-200"), expect=403)
    olga.call(
        "POST", "/api/lots/L-100/samples", {"container": "L-100-001", "quantity": "1", "purpose": "x"}, expect=403
    )
    assert quinn.call("GET", "/api/lots/L-100")["status"] == "quarantine"
    assert count(floor, Signature) == 0


@pytest.mark.requirement("URS-MAT-005")
def test_a_release_without_signature_or_with_someone_elses_is_refused(app: Flask, floor: Floor, quinn: Api) -> None:
    material(quinn)
    receive(quinn, floor.services)
    quinn.call("POST", "/api/lots/L-100/release", {"reason": "ok"}, expect=422)
    wrong = {"user_id": "quinn", "password": "guess", "meaning": "released"}
    quinn.call("POST", "/api/lots/L-100/release", {"reason": "ok", "signature": wrong}, expect=(401, 403))
    sue = {"user_id": "sue", "password": "correct horse battery 1", "meaning": "released"}
    refused = quinn.call("POST", "/api/lots/L-100/release", {"reason": "ok", "signature": sue}, expect=403)
    assert "sign with your own user id" in refused["message"]
    assert quinn.call("GET", "/api/lots/L-100")["status"] == "quarantine"
    assert count(floor, LotStatusChange) == 0


@pytest.mark.requirement("URS-MAT-005")
def test_a_replayed_release_changes_nothing(floor: Floor, quinn: Api) -> None:
    material(quinn)
    shown = receive(quinn, floor.services)
    decide(quinn, "L-100", "release", version=shown["version"])
    decide(quinn, "L-100", "quarantine", signature=quinn.sig("approved"))
    replay = decide(quinn, "L-100", "release", expect=409, version=shown["version"])
    assert "changed since you opened it" in replay["message"]
    assert quinn.call("GET", "/api/lots/L-100")["status"] == "quarantine"
    assert count(floor, LotStatusChange) == 2


@pytest.mark.requirement("URS-MAT-006")
@pytest.mark.parametrize("state", ["quarantine", "rejected", "expired", "retest due"])
def test_dispensing_refuses_a_container_whose_lot_is_not_usable(floor: Floor, quinn: Api, state: str) -> None:
    material(quinn)
    receive(quinn, floor.services)
    if state == "rejected":
        decide(quinn, "L-100", "reject", signature=quinn.sig("rejected"))
    if state in ("expired", "retest due"):
        decide(quinn, "L-100", "release")
        with floor.services.session_factory() as session, session.begin():
            lot = session.scalars(select(Lot)).one()
            past = today(floor.services) - dt.timedelta(days=1)
            if state == "expired":
                lot.expires_on = past
            else:
                lot.retest_on = past
    number = _weigh_step(floor)
    expected = {
        "quarantine": "lot L-100 is quarantine, not released",
        "rejected": "lot L-100 is rejected, not released",
        "expired": "lot L-100 expired on",
        "retest due": "lot L-100 was due for retest on",
    }[state]
    with pytest.raises(ValidationError, match=expected):
        _scan(floor, number, "L-100-001")


@pytest.mark.requirement("URS-MAT-007")
def test_retest_moves_the_retest_date_with_a_signature_and_release_waits_for_it(floor: Floor, quinn: Api) -> None:
    material(quinn)
    receive(quinn, floor.services)
    with floor.services.session_factory() as session, session.begin():
        session.scalars(select(Lot)).one().retest_on = today(floor.services) - dt.timedelta(days=1)
    assert "record the retest first" in decide(quinn, "L-100", "release", expect=422)["message"]
    nxt = (today(floor.services) + dt.timedelta(days=90)).isoformat()
    body = {"retest_on": nxt, "reason": "retest report QC-55", "signature": quinn.sig("approved")}
    assert quinn.call("POST", "/api/lots/L-100/retest", body)["retest_on"] == nxt
    assert decide(quinn, "L-100", "release")["status"] == "released"
    assert actions(floor, "lot.retested") == 1


@pytest.mark.requirement("URS-MAT-008")
def test_samples_and_consumption_show_in_the_stock_of_each_container(floor: Floor, quinn: Api) -> None:
    material(quinn)
    receive(quinn, floor.services)
    taken = quinn.call(
        "POST", "/api/lots/L-100/samples", {"container": "L-100-002", "quantity": "0.250", "purpose": "identity"}
    )
    assert taken["quantity"] == "0.250"
    assert taken["taken_by"] == "quinn"
    quinn.call("POST", "/api/lots/L-100/samples", {"container": "L-100-002", "quantity": "99", "purpose": "x"}, 422)
    quinn.call("POST", "/api/lots/L-100/samples", {"container": "OTHER-1", "quantity": "1", "purpose": "x"}, 404)
    decide(quinn, "L-100", "release")
    floor.work(
        floor.execution.materials.consume,
        actor="olga",
        batch_id="b-1",
        step_path="UP1.OP1.PH1",
        barcode="L-100-001",
        quantity=Decimal("10.000"),
    )
    stock = {s["barcode"]: s for s in quinn.call("GET", "/api/lots/L-100/containers")}
    first = stock["L-100-001"]
    assert (first["received"], first["issued"], first["sampled"], first["remaining"]) == (
        "25.000",
        "10.000",
        "0",
        "15.000",
    )
    assert (stock["L-100-002"]["sampled"], stock["L-100-002"]["remaining"]) == ("0.250", "24.750")
    assert len(quinn.call("GET", "/api/lots/L-100/samples")) == 1
    assert count(floor, LotSample) == 1
    assert actions(floor, "lot.sampled") == 1


@pytest.mark.requirement("URS-MAT-009")
def test_labels_come_as_a_pdf_with_each_barcode_and_as_zpl(floor: Floor, quinn: Api, tmp_path: object) -> None:
    material(quinn, label_text="Keep dry.")
    receive(quinn, floor.services)
    response = quinn.client.get("/api/lots/L-100/labels.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    text = pdf_text(response.data)
    for barcode in ("L-100-001", "L-100-002", "L-100-003"):
        assert barcode in text
    assert "QUARANTINE" in text
    assert "Keep dry." in text
    assert "AC-7781" in text
    zpl = quinn.client.get("/api/lots/L-100/labels.zpl").get_data(as_text=True)
    assert zpl.count("^XA") == 3
    assert "^BCN,90,Y,N,N^FH_^FDL-100-001^FS" in zpl
    quinn.call("GET", "/api/lots/NOPE/labels.pdf", expect=404)


def pdf_text(data: bytes) -> str:
    done = subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True)
    return done.stdout.decode("utf-8")


def test_the_trace_of_a_lot_lists_its_links(floor: Floor, quinn: Api) -> None:
    material(quinn)
    receive(quinn, floor.services)
    decide(quinn, "L-100", "release")
    mats = floor.execution.materials
    floor.work(mats.consume, actor="olga", batch_id="b-1", step_path="P", barcode="L-100-001", quantity=Decimal("1"))
    floor.work(
        mats.record_output, actor="olga", batch_id="b-1", number="FG-1", product="FG", quantity=Decimal("1"), unit="kg"
    )
    trace = quinn.call("GET", "/api/lots/L-100/trace")
    assert trace["links"] == [
        {"direction": "forward", "source": "L-100", "batch": "b-1", "target": "FG-1", "quantity": "1", "unit": "kg"}
    ]
    assert set(trace["lots"]) == {"L-100", "FG-1"}
