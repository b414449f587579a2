"""The /materials/, /lots/ and /genealogy/ pages: receive, sample, decide with a signature,
print labels, and trace a lot as a drawn graph, a table and a PDF."""

from __future__ import annotations

import datetime as dt
import html
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import select

from ebr.execution.models import Batch
from tests.integration.execution.conftest import PASSWORD, SIMPLE, Floor, make_lot, recipe
from tests.integration.materials.support import today
from tests.integration.materials.test_lots_api import pdf_text
from tests.integration.web.test_verification_queue import client_for
from tests.support.auth import csrf_token


def post(client: object, url: str, data: dict[str, str], **kwargs: object) -> object:
    """A form post with the CSRF token of the lots page."""
    token = csrf_token(client, "/lots/")  # type: ignore[arg-type]
    return client.post(url, data=data | {"csrf_token": token}, **kwargs)  # type: ignore[attr-defined]


def page(client: object, url: str) -> str:
    response = client.get(url)  # type: ignore[attr-defined]
    assert response.status_code == 200, response.status_code
    return html.unescape(response.get_data(as_text=True))


@pytest.mark.requirement("URS-MAT-002")
def test_qa_adds_a_material_receives_a_lot_samples_and_releases_it_in_the_pages(app: Flask, floor: Floor) -> None:
    quinn = client_for(app, "quinn")
    made = {"code": "RM-W", "name": "Water", "unit": "kg", "storage": "ambient", "retest_interval_days": "90"}
    assert post(quinn, "/materials/", data=made).status_code == 302
    assert "RM-W" in page(quinn, "/materials/")
    expiry = (today(floor.services) + dt.timedelta(days=365)).isoformat()
    form = {
        "material": "RM-W", "lot_number": "W-1", "supplier": "Aqua", "supplier_lot": "AQ-9",
        "container_count": "4", "container_quantity": "20", "expires_on": expiry,
    }  # fmt: skip
    assert post(quinn, "/lots/", data=form).status_code == 302
    lot = page(quinn, "/lots/W-1")
    assert "W-1-004" in lot
    assert "80 kg" in lot
    assert "quarantine" in lot
    sample = {"container": "W-1-001", "quantity": "0.5", "purpose": "identity"}
    assert post(quinn, "/lots/W-1/samples", data=sample).status_code == 302
    decision = {"action": "release", "reason": "CoA OK", "sig_user": "quinn", "sig_password": PASSWORD}
    assert post(quinn, "/lots/W-1/decision", data=decision).status_code == 302
    lot = page(quinn, "/lots/W-1")
    assert "quarantine → released by quinn" in lot
    assert "0.5 kg from W-1-001 for identity" in lot
    labels = quinn.get("/lots/W-1/labels.pdf")
    assert labels.mimetype == "application/pdf"
    assert "W-1-003" in pdf_text(labels.data)


def test_a_receipt_with_an_expiry_before_receipt_is_refused_on_the_page(app: Flask, floor: Floor) -> None:
    quinn = client_for(app, "quinn")
    post(quinn, "/materials/", data={"code": "RM-W", "name": "Water", "unit": "kg"})
    form = {
        "material": "RM-W", "lot_number": "W-2", "supplier": "Aqua", "supplier_lot": "AQ-9",
        "quantities": "10, -2", "expires_on": "2001-01-01",
    }  # fmt: skip
    refused = post(quinn, "/lots/", data=form, headers={"Accept": "text/html"})
    assert refused.status_code == 422
    text = html.unescape(refused.get_data(as_text=True))
    assert "is not after the receipt date" in text
    assert "container 2: quantity -2 must be greater than zero" in text
    assert "W-2" not in page(quinn, "/lots/")


def test_an_operator_sees_lots_but_cannot_decide(app: Flask, floor: Floor) -> None:
    olga = client_for(app, "olga")
    assert "Goods receipt" not in page(olga, "/lots/")
    refused = post(olga, "/lots/W-1/decision", data={"action": "release"}, headers={"Accept": "text/html"})
    assert refused.status_code == 403


@pytest.mark.requirement("URS-MAT-010")
def test_the_genealogy_page_draws_the_trace_lists_it_and_prints_it(app: Flask, floor: Floor) -> None:
    quinn = client_for(app, "quinn")
    post(quinn, "/materials/", data={"code": "RM-W", "name": "Water", "unit": "kg"})
    expiry = (today(floor.services) + dt.timedelta(days=365)).isoformat()
    form = {"material": "RM-W", "lot_number": "W-3", "supplier": "A", "supplier_lot": "B", "container_count": "1",
            "container_quantity": "5", "expires_on": expiry}  # fmt: skip
    post(quinn, "/lots/", data=form)
    post(
        quinn,
        "/lots/W-3/decision",
        data={"action": "release", "reason": "ok", "sig_user": "quinn", "sig_password": PASSWORD},
    )
    mats = floor.execution.materials
    floor.work(mats.consume, actor="olga", batch_id="b-9", step_path="P", barcode="W-3-001", quantity=Decimal("2"))
    floor.work(
        mats.record_output, actor="olga", batch_id="b-9", number="FG-9", product="FG", quantity=Decimal("2"), unit="kg"
    )
    assert quinn.get("/genealogy/?kind=lot&ref=W-3").status_code == 302
    shown = page(quinn, "/genealogy/lot/W-3")
    assert "went into" in shown
    assert "FG-9" in shown
    graph = quinn.get("/genealogy/lot/W-3/graph.svg")
    assert graph.mimetype == "image/svg+xml"
    svg = html.unescape(graph.get_data(as_text=True))
    assert "<svg" in svg
    assert "W-3" in svg
    assert "FG-9" in svg
    assert svg.count('class="edge"') == 2  # lot → batch → output lot
    printed = pdf_text(quinn.get("/genealogy/lot/W-3/trace.pdf").data)
    assert "Genealogy trace of lot W-3" in printed
    assert "FG-9" in printed
    assert quinn.get("/genealogy/lot/NOPE").status_code == 404


@pytest.mark.requirement("URS-MAT-010")
def test_a_batch_is_traced_to_its_input_lots_and_its_output(app: Flask, floor: Floor) -> None:
    make_lot(floor, "RM-A", "A-1", "50")
    number = floor.batch(recipe(SIMPLE), order="PO-T")
    with floor.services.session_factory() as session:
        batch_id = session.scalars(select(Batch.id).where(Batch.number == number)).one()
    mats = floor.execution.materials
    floor.work(mats.consume, actor="olga", batch_id=batch_id, step_path="P", barcode="C-A-1", quantity=Decimal("3"))
    floor.work(mats.record_output, actor="olga", batch_id=batch_id, number="OUT-1", product="FG-SIMPLE",
               quantity=Decimal("3"), unit="kg")  # fmt: skip
    quinn = client_for(app, "quinn")
    shown = page(quinn, f"/genealogy/batch/{number}")
    assert f"Genealogy of batch {number}" in shown
    assert "A-1" in shown
    assert "OUT-1" in shown
    svg = html.unescape(quinn.get(f"/genealogy/batch/{number}/graph.svg").get_data(as_text=True))
    assert f"batch {number}" in svg
    assert svg.count('class="edge"') == 2
    assert "OUT-1" in pdf_text(quinn.get(f"/genealogy/batch/{number}/trace.pdf").data)
