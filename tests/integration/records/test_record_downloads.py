"""The record downloads in the browser: QA and auditors take the PDF, the BPR and the bundle; others may not."""

from __future__ import annotations

import io
import zipfile

import pikepdf
import pytest
from flask import Flask

from audit.bundle_verify import verify_bundle
from ebr.core.db import unit_of_work
from tests.integration.execution.conftest import PASSWORD
from tests.integration.records.conftest import Example
from tests.integration.records.support import attachment
from tests.support.auth import login


@pytest.mark.requirement("URS-QA-002", "URS-AUD-005")
def test_an_auditor_downloads_the_record_pdf_bpr_and_a_bundle_that_verifies(app: Flask, example: Example) -> None:
    services = example.floor.services
    with unit_of_work(services.session_factory) as session:
        services.users.create(
            session, actor="admin", user_id="alex", full_name="Alex Auditor", roles=["auditor"], password=PASSWORD,
            must_change=False,
        )  # fmt: skip
    client = app.test_client()
    assert login(client, "alex", PASSWORD).status_code == 302
    index = client.get("/records/")
    assert example.number in index.get_data(as_text=True)
    page = client.get(f"/records/batches/{example.number}").get_data(as_text=True)
    assert "record.pdf" in page
    pdf = client.get(f"/records/batches/{example.number}/record.pdf")
    assert pdf.status_code == 200
    assert pdf.mimetype == "application/pdf"
    assert b'"format":"ebr-batch-record/1"' in attachment(pdf.data)
    with pikepdf.open(io.BytesIO(pdf.data)) as document:  # tagged: a structure tree for screen readers
        assert bool(document.Root.MarkInfo.Marked)
        assert "/StructTreeRoot" in document.Root
    index_html = index.get_data(as_text=True)
    assert f"Record files of batch {example.number}" in index_html  # distinct link names
    assert "in_execution" not in index_html
    bpr = client.get(f"/records/batches/{example.number}/bpr.xml")
    assert b"<BatchProductionRecord" in bpr.data
    bundle = client.get(f"/records/batches/{example.number}/bundle.zip")
    assert verify_bundle(io.BytesIO(bundle.data)).ok
    with zipfile.ZipFile(io.BytesIO(bundle.data)) as archive:
        assert attachment(archive.read("record.pdf")) == archive.read("record.json")


def test_an_operator_may_not_take_the_record_away(app: Flask, example: Example) -> None:
    client = app.test_client()
    assert login(client, "olga", PASSWORD).status_code == 302
    assert client.get(f"/records/batches/{example.number}/record.pdf").status_code == 403
