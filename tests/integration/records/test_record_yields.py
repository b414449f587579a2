"""The batch record shows every yield and the material reconciliation: PDF text, record.json and BatchML."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from ebr.bootstrap import Services
from ebr.execution import yields
from ebr.execution.service import build
from ebr.records import bpr
from ebr.records import services as reports
from ebr.trail import services as audit_service
from tests.integration.execution.conftest import Floor, make_lot, make_people, make_plant
from tests.integration.execution.test_yields import make
from tests.integration.records.support import pdf_text


@pytest.fixture
def floor(services: Services) -> Floor:
    audit_service.ensure_system_key(services)
    make_people(services)
    make_plant(services, {"R-101": "unit"})
    return Floor(services, build(services))


@pytest.mark.requirement("URS-QA-010", "URS-QA-002")
def test_the_pdf_record_and_the_bpr_show_yield_and_reconciliation_with_their_verdicts(
    floor: Floor, tmp_path: Path
) -> None:
    make_lot(floor, "RM-X", "L-X", "25.000")
    number = make(floor, "47", size="50", take="10.000")
    floor.work(
        yields.record_return, ctx=floor.execution.ctx, actor="olga", ref=number, container="C-L-X",
        returned=Decimal("14.850"), waste=Decimal("0.020"),
    )  # fmt: skip
    printed = reports.print_record(floor.services, ref=number, actor="quinn")
    path = tmp_path / "record.pdf"
    path.write_bytes(printed.data)
    text = pdf_text(path)
    assert "Yield" in text
    assert "47 kg" in text
    assert "50.000 kg" in text
    assert "94.00 %" in text
    assert "95 – 102 %" in text
    assert "OUTSIDE LIMITS" in text
    assert "Material reconciliation" in text
    for figure in ("25.000", "10.000", "14.850", "0.020", "0.130 kg", "±0.5 %", "OUTSIDE LIMIT"):
        assert figure in text, figure
    assert "yield outside its limits" in text, "the review exception"
    assert "reconciliation outside its limits" in text
    record = printed.record
    assert record["yields"][0]["percent"] == "94.00"
    assert record["yields"][0]["within"] is False
    assert record["reconciliation"][0]["total"]["difference"] == "0.130"

    produced = reports.production_record(floor.services, ref=number, actor="quinn")
    root = etree.fromstring(produced.data)
    ns = {"b": bpr.NS}
    [produce] = root.xpath("//b:Event[b:EventSubType='Produce']", namespaces=ns)
    assert produce.xpath("string(b:Value/b:ValueString)", namespaces=ns) == "47"
    assert produce.xpath("string(b:PreviousValue/b:ValueString)", namespaces=ns) == "50.000"
    assert produce.xpath("string(b:Category)", namespaces=ns) == "outside limits"
    [balance] = root.xpath("//b:Event[b:EventSubType='Reconciliation']", namespaces=ns)
    assert balance.xpath("string(b:Value/b:ValueString)", namespaces=ns) == "0.130"
    assert "container C-L-X: issued 25.000 - consumed 10.000" in balance.xpath("string(b:MessageText)", namespaces=ns)
