"""Pure parts of the batch record: cutting into parts, limits text, trend charts, the BPR of a generated record."""

from __future__ import annotations

import re

from lxml import etree

from benchmarks.record_pdf import synthetic_record
from ebr.records import bpr, html
from ebr.records.charts import trend_svg


def test_the_record_is_cut_into_parts_at_operation_boundaries_and_every_part_starts_a_page() -> None:
    record = synthetic_record(150)
    layout = html.compose(record)
    step_parts = [p for p in layout.parts if 'id="step-' in p]
    assert len(step_parts) == 3, "150 phases in parts of about 60, cut where an operation begins"
    for part in step_parts[1:]:
        first = re.search(r'id="step-([^"]+)"', part)
        assert first is not None
        assert first.group(1).count(".") <= 1, "a later part begins with an operation or unit procedure"
    assert all(p.startswith('<section class="part') for p in layout.parts)
    whole = html.whole_document(record)
    assert all(p in whole for p in layout.parts), "the whole document is the same parts (same pages)"


def test_limits_read_as_a_person_would_say_them() -> None:
    params = {"target": "25.0", "low": "15.0", "high": "30.0", "unit": "°C"}
    assert html._limits(params) == "target 25.0 °C; limits 15.0 – 30.0 °C"
    weighing = {"target": "2.5", "unit": "kg", "tolerance": "1", "tolerance_unit": "%"}
    assert html._limits(weighing) == "target 2.5 kg; tolerance ± 1 %"


def test_a_trend_chart_holds_each_value_until_the_next_bucket() -> None:
    points = [
        {"at": "2026-11-24T10:00:00.000000Z", "min": "0", "mean": "0", "max": "0"},
        {"at": "2026-11-24T10:00:10.000000Z", "min": "100", "mean": "100", "max": "100"},
    ]
    svg = trend_svg(points, title="R-101.level during UP1.OP2.PH1")
    line = re.search(r'<polyline points="([^"]+)"', svg)
    assert line is not None
    xs_ys = [tuple(map(float, p.split(","))) for p in line.group(1).split()]
    assert len(xs_ys) == 3
    assert xs_ys[1][1] == xs_ys[0][1], "flat until the second bucket, then a step"
    assert 'font-family="DejaVu Sans"' in svg
    assert trend_svg([], title="nothing") == ""


def test_the_bpr_of_a_generated_batch_validates_and_names_every_value() -> None:
    record = synthetic_record(30)
    data = bpr.export_bpr(record)
    document = etree.fromstring(data)
    values = document.findall(f".//{{{bpr.NS}}}Event/{{{bpr.NS}}}Value/{{{bpr.NS}}}ValueString")
    entered = [e["value"] for s in record["steps"] for e in s["entries"]]
    assert sorted(v.text or "" for v in values) == sorted(entered)
    assert bpr.schema().validate(etree.ElementTree(document))
