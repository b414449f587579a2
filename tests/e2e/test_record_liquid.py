"""The batch record of a real liquid batch: PCM-SOL-24 dosed over OPC UA by the simulator, weighed on the Modbus scale.

The record's PDF carries the dosing trends as charts, every entered value and every
signature; the bundle verifies offline; the pages are kept as PNG artifacts.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from flask import Flask

from audit.bundle_verify import verify_bundle
from ebr.bootstrap import Services
from ebr.execution.service import build
from ebr.records import services as reports
from ebr.trail import services as audit_service
from tests.e2e.batch_support import Runner, ShiftedClock
from tests.e2e.test_batch_examples import (  # noqa: F401 - the e2e fixtures
    _new_batch,
    _people,
    _runtime_alive,
    clock,
    runtime,
    shop,
    simulator,
    web,
)
from tests.integration.execution.conftest import Floor, make_lot
from tests.integration.records.support import attachment, page_pngs, pdf_text
from tests.support.plant import SimulatorHandle

VALUES = {
    "UP1.OP2.PH2": {"value": "22.5"},
    "UP1.OP3.PH1": {"container": "C-L-RM-PCM"},
    "UP1.OP3.PH2": {"container": "C-L-RM-NABZ"},
    "UP1.OP3.PH3": {"container": "C-L-RM-SUCR"},
    "UP1.OP3.PH5": {"minutes": 31},
    "UP1.OP3.PH6": {"value": "clear"},
    "UP1.OP4.PH1": {"sample_id": "IPC-1", "results": {"pH": "5.1", "assay": "99.8"}},
    "UP1.OP4.PH2": {"value": "5.1"},
    "UP1.OP5.PH2": {"minutes": 16},
    "UP1.OP5.PH3": {"value": "500"},
    "UP2.OP1.PH3": {"value": "0.8"},
    "UP2.OP2.PH1": {"value": "100.4"},
    "UP2.OP2.PH2": {"value": "4990"},
}


@pytest.mark.slow
@pytest.mark.requirement("URS-QA-002", "URS-AUD-005", "URS-SIG-002")
def test_the_record_of_a_dosed_liquid_batch_shows_its_trends_values_and_signatures_and_its_bundle_verifies(
    web: Flask,  # noqa: F811 - the e2e fixture
    shop: Services,  # noqa: F811
    simulator: SimulatorHandle,  # noqa: F811
    clock: ShiftedClock,  # noqa: F811
    tmp_path: Path,
) -> None:
    audit_service.ensure_system_key(shop)
    floor = Floor(shop, build(shop))
    for code, potency in (("RM-PCM", "99.2"), ("RM-NABZ", None), ("RM-SUCR", None), ("RM-CITR", None)):
        make_lot(floor, code, f"L-{code}", "50", potency=potency)
    number = _new_batch(web, shop, "paracetamol-oral-solution.yaml", "500")
    olga, sam = _people(web)
    Runner(olga, sam, simulator, clock, VALUES, runtime_alive=lambda: _runtime_alive(shop)).run(number)
    out = tmp_path / "bundle.zip"
    reports.export_batch_bundle(shop, ref=number, actor="quinn", out_path=out)
    report = verify_bundle(out)
    assert report.ok, [p.describe() for p in report.problems]
    with zipfile.ZipFile(out) as archive:
        record_json, pdf = archive.read("record.json"), archive.read("record.pdf")
    assert attachment(pdf) == record_json
    record = json.loads(record_json)
    assert any(t["tag"].startswith("R-101") and len(t["points"]) >= 2 for t in record["trends"]), record["trends"]
    path = tmp_path / "record.pdf"
    path.write_bytes(pdf)
    text = pdf_text(path)
    values = [e["value"] for s in record["steps"] for e in s["entries"]]
    assert [v for v in values if v not in text] == []
    assert [s["manifestation"] for s in record["signatures"].values() if s["manifestation"] not in text] == []
    assert "during UP1.OP2.PH1" in text, "the dosing trend is charted"
    assert {m["lot"] for m in record["materials"]} >= {"L-RM-PCM", "L-RM-NABZ", "L-RM-SUCR"}
    assert len(page_pngs(path, "pcm-sol-24")) >= 10
