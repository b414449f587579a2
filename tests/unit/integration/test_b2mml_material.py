"""Reading B2MML master data: SAP's shapes are read, anything hostile or invalid is refused by name."""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ebr.integration.b2mml import Document, MessageRefused, Schema
from ebr.integration.b2mml_material import MaterialDocument, plant_unit, read
from ebr.integration.masterdata import erp_kind
from tests.integration.integration.master import lot_message, material_message

DATA = Path(__file__).resolve().parents[2] / "data" / "b2mml"
DEFINITIONS = (DATA / "v0401-sync-material-definition.xml").read_bytes()
LOT = (DATA / "v0401-sync-material-lot.xml").read_bytes()
V0701_LOT = (DATA / "v0701-sync-material-lot.xml").read_bytes()
V0701_DEFINITION = (DATA / "v0701-process-material-definition.xml").read_bytes()
EXAMPLES = int(os.environ.get("EBR_FUZZ_EXAMPLES", "60"))


def material_doc(data: bytes) -> MaterialDocument:
    doc = read(data)
    assert isinstance(doc, MaterialDocument)
    return doc


@pytest.mark.requirement("URS-INT-010")
def test_an_sap_material_master_is_read_with_its_units_languages_and_properties() -> None:
    doc = material_doc(DEFINITIONS)
    assert (doc.schema, doc.verb, doc.noun, doc.bod_id, doc.sender) == (
        Schema.V0401, "Sync", "MaterialDefinition", "BOD-MAT-V0401-000001", "ERP-PRD-100",
    )  # fmt: skip
    api, exc = doc.definitions
    assert api.code == "API-7"
    assert api.name == "Active ingredient 7, micronised"  # English preferred over the German first one
    assert api.descriptions == (("de", "Wirkstoff 7, mikronisiert"), ("en", "Active ingredient 7, micronised"))
    assert dict(api.fields) == {
        "unit": "kg", "storage": "2-8 °C, protect from light", "retest_interval_days": 365, "hazardous": True,
    }  # fmt: skip
    # no English description: the first one names it; the unit from the empty ValueString's UnitOfMeasure
    assert (exc.name, dict(exc.fields)) == ("Hilfsstoff 7", {"unit": "g"})
    assert doc.keys == ["API-7", "EXC-7"]


@pytest.mark.requirement("URS-INT-012")
def test_an_sap_lot_is_read_with_sublots_dates_supplier_and_the_erps_status() -> None:
    [lot] = material_doc(LOT).lots
    assert (lot.lot_number, lot.material, lot.status, lot.quantity, lot.unit) == (
        "0000471100", "API-7", "Released", Decimal("37.500"), "KG",
    )  # fmt: skip
    assert (lot.expires_on, lot.supplier, lot.supplier_lot) == (
        dt.date(2028, 6, 30), "100234 Pharma Chem GmbH", "PC-2026-0815",
    )  # fmt: skip
    assert [(s.sublot_id, s.quantity, s.status) for s in lot.sublots] == [
        ("00000000001000000001", Decimal("25.000"), None),  # the empty <Status/> is no status
        ("00000000001000000002", Decimal("12.5"), None),
    ]
    [v0701] = material_doc(V0701_LOT).lots
    assert (v0701.version, v0701.disposition, v0701.unit) == ("1", "UnRestricted", "LTR")
    [solvent] = material_doc(V0701_DEFINITION).definitions
    assert (solvent.version, solvent.name, dict(solvent.fields)["unit"]) == ("3", "Ethanol 96 %", "L")


def test_erp_units_and_status_words_are_understood() -> None:
    assert [plant_unit(u, "x") for u in ("KG", "KGM", "GRM", "LTR", "MLT", "ST", "H87", "kg", "mL")] == [
        "kg", "kg", "g", "L", "mL", "pcs", "pcs", "kg", "mL",
    ]  # fmt: skip
    with pytest.raises(MessageRefused, match="furlong"):
        plant_unit("furlong", "x")
    assert [erp_kind(s) for s in ("Released", "UnRestricted", "Blocked", "Quality Inspection", "QI", "new")] == [
        "release", "release", "hold", "hold", "hold", None,
    ]  # fmt: skip
    assert erp_kind("Released", "Restricted") == "hold"  # when in doubt, the safe direction


def test_process_orders_still_come_back_as_orders() -> None:
    assert isinstance(read((DATA / "v0701-sync-operations-schedule.xml").read_bytes()), Document)


@pytest.mark.requirement("URS-INT-016")
@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<SyncMaterialLot/>", "unsupported message 'SyncMaterialLot'"),
        (b'<GetMaterialLot xmlns="http://www.mesa.org/xml/B2MML"/>', "MaterialDefinition, MaterialLot"),
        (lot_message("L" * 61, bod="B"), "give an ID of 1 to 60 characters"),
        (lot_message("L-1", bod="B", extra=[("Potency", "lots")]), "'lots' is not a number"),
        (lot_message("L-1", bod="B", expiry="2030-01-31T00:00:00"), "'2030-01-31T00:00:00' is not a date"),
        (lot_message("L-1", bod="B", subs=(("S1", "1"), ("S1", "2")), quantity="3"), "sublot ID must be unique"),
        (material_message("M", bod="B", properties=[("Hazardous", "maybe")]), "'maybe' is not a yes/no value"),
        (material_message("M", bod="B", properties=[("RetestInterval", "12.5")]), "whole number of days"),
        (material_message("M", bod="B", schema="V0401", verb="Sync").replace(b"<Sync/>", b""), "V0401 schema"),
    ],
)
def test_wrong_master_data_is_refused_naming_the_element(data: bytes, message: str) -> None:
    with pytest.raises(MessageRefused, match=message):
        read(data)


def _mutations() -> st.SearchStrategy[bytes]:
    """Bytes near a real master-data message: cut, spliced, with random text swapped in."""
    base = st.sampled_from([DEFINITIONS, LOT, V0701_LOT, V0701_DEFINITION])
    cut = st.tuples(base, st.integers(0, len(LOT))).map(lambda t: t[0][: t[1]])
    splice = st.tuples(base, st.integers(0, 3000), st.binary(max_size=40)).map(
        lambda t: t[0][: t[1]] + t[2] + t[0][t[1] :]
    )
    text = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=30)
    targets = [b"25.000", b"2028-06-30", b"KG", b"LTR", b"API-7", b"365", b"X<", b"Released"]
    swap = st.tuples(base, st.sampled_from(targets), text).map(
        lambda t: t[0].replace(t[1], t[2].encode("utf-8", "replace"))
    )
    return st.one_of(st.binary(max_size=200), cut, splice, swap)


@pytest.mark.requirement("URS-INT-016")
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutations())
def test_the_master_data_parser_never_raises_anything_but_a_refusal(data: bytes) -> None:
    try:
        doc = read(data)
    except MessageRefused as refused:
        message = str(refused).strip()
        doc = None
    if doc is None:
        assert message
        return
    if isinstance(doc, MaterialDocument):
        assert doc.definitions or doc.lots
        for lot in doc.lots:
            assert lot.quantity is None or lot.quantity.is_finite()
            assert all(s.quantity is None or s.quantity.is_finite() for s in lot.sublots)
