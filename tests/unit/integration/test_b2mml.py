"""Reading and writing B2MML: the ERP's shapes are read, anything hostile or invalid is refused by name."""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from ebr.integration import b2mml
from ebr.integration.b2mml import MessageRefused, Schema
from ebr.integration.b2mml_out import MaterialActual, Performance, confirm_bod, performance

DATA = Path(__file__).resolve().parents[2] / "data" / "b2mml"
V0401 = (DATA / "v0401-sync-production-schedule.xml").read_bytes()
V0701 = (DATA / "v0701-sync-operations-schedule.xml").read_bytes()
EXAMPLES = int(os.environ.get("EBR_FUZZ_EXAMPLES", "60"))


@pytest.mark.requirement("URS-INT-001")
def test_a_v0401_production_schedule_with_nested_segments_is_read_with_its_bill_of_materials() -> None:
    doc = b2mml.parse(V0401)
    assert (doc.schema, doc.verb, doc.bod_id, doc.sender) == (Schema.V0401, "Sync", "BOD-V0401-000001", "ERP-PRD-100")
    [order] = doc.orders
    assert (order.order_id, order.product, order.quantity, order.unit) == (
        "4711000001",
        "FG-SIMPLE",
        Decimal("100.000"),
        "kg",
    )
    assert [(line.segment, line.material, line.quantity, line.unit) for line in order.bom] == [
        ("0011", "API-1", Decimal("12.500"), "kg"),
        ("0011", "EXC-1", Decimal("87.5"), "kg"),
    ]
    assert order.bom[0].description == "原薬"  # a foreign-language description is kept as sent
    assert order.description == "Prozessauftrag Einfaches Produkt"
    assert order.start == dt.datetime(2026, 12, 7, 5, 0, tzinfo=dt.UTC)
    assert [(p.name, p.value, p.unit) for p in order.parameters] == [("MIX_SPEED", "120", "rpm")]


@pytest.mark.requirement("URS-INT-001")
def test_a_v0701_operations_schedule_is_read_with_its_version() -> None:
    doc = b2mml.parse(V0701)
    [order] = doc.orders
    assert (doc.schema, order.order_id, order.revision, order.quantity) == (
        Schema.V0701,
        "4711000002",
        "1",
        Decimal(120),
    )
    assert [(line.material, line.quantity) for line in order.bom] == [("API-1", Decimal("15.0"))]


HOSTILE = {
    "billion laughs": b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
    b'<SyncProductionSchedule xmlns="http://www.wbf.org/xml/B2MML-V0401">&lol2;</SyncProductionSchedule>',
    "external entity": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b'<SyncProductionSchedule xmlns="http://www.wbf.org/xml/B2MML-V0401">&xxe;</SyncProductionSchedule>',
    "external DTD": b'<?xml version="1.0"?><!DOCTYPE x SYSTEM "http://127.0.0.1:9/evil.dtd">'
    b'<SyncProductionSchedule xmlns="http://www.wbf.org/xml/B2MML-V0401"/>',
}


@pytest.mark.requirement("URS-INT-002")
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_xml_is_refused_before_anything_is_read(name: str) -> None:
    with pytest.raises(MessageRefused, match="DOCTYPE"):
        b2mml.parse(HOSTILE[name])


@pytest.mark.requirement("URS-INT-002")
def test_malformed_xml_and_foreign_documents_are_refused_with_what_to_send() -> None:
    with pytest.raises(MessageRefused, match="not well-formed"):
        b2mml.parse(V0401[:300])
    with pytest.raises(MessageRefused, match="unsupported message 'Invoice'"):
        b2mml.parse(b"<Invoice/>")
    with pytest.raises(MessageRefused, match="empty"):
        b2mml.parse(b"  ")


@pytest.mark.requirement("URS-INT-002")
def test_a_schema_violation_names_the_element() -> None:
    broken = V0401.replace(b"<Priority>5</Priority>", b"<Priority>5</Priority><Colour>red</Colour>")
    with pytest.raises(MessageRefused) as refused:
        b2mml.parse(broken)
    assert refused.value.element is not None
    assert "ProductionRequest" in refused.value.element
    assert "Colour" in str(refused.value)


@pytest.mark.requirement("URS-INT-002")
def test_a_quantity_that_is_not_a_number_names_its_element() -> None:
    broken = V0401.replace(b"<QuantityString>12.500</QuantityString>", b"<QuantityString>12,5 kg</QuantityString>")
    with pytest.raises(MessageRefused, match=r"MaterialRequirement\[API-1\]/Quantity/QuantityString: '12,5 kg'"):
        b2mml.parse(broken)


@pytest.mark.requirement("URS-INT-002")
def test_a_time_without_zone_is_refused() -> None:
    broken = V0701.replace(b"2026-12-08T06:00:00Z", b"2026-12-08T06:00:00")
    with pytest.raises(MessageRefused, match="no time zone"):
        b2mml.parse(broken)


def test_an_order_without_a_produced_material_is_refused() -> None:
    broken = V0701.replace(b"<MaterialUse>Produced</MaterialUse>", b"<MaterialUse>Consumed</MaterialUse>")
    with pytest.raises(MessageRefused, match="no produced material"):
        b2mml.parse(broken)


@pytest.mark.parametrize("schema", list(Schema))
def test_acknowledgements_and_performance_documents_are_valid_b2mml(schema: Schema) -> None:
    now = dt.datetime(2026, 12, 5, 9, 0, tzinfo=dt.UTC)
    original = b2mml.parse(V0401 if schema is Schema.V0401 else V0701).application_area
    ack = confirm_bod(schema, bod_id="A1", at=now, original=original, lines=["order 1: planned"], accepted=True)
    root = b2mml.safe_root(ack)
    b2mml.validate(root, schema, "confirm")
    assert root.findtext(f".//{{{b2mml.NAMESPACES[schema]}}}Note") == "order 1: planned"
    perf = Performance(
        order_id="4711",
        batch_number="B1",
        state="Released",
        started=now,
        ended=now,
        consumed=(MaterialActual("API-1", "L-1", Decimal("12.500"), "kg", "C-1"),),
        produced=(MaterialActual("FG-SIMPLE", "B1", Decimal("100"), "kg", status="quarantine"),),
    )
    doc = b2mml.safe_root(performance(schema, perf, bod_id="P1", at=now))
    b2mml.validate(doc, schema)
    texts = [e.text for e in doc.iter(f"{{{b2mml.NAMESPACES[schema]}}}QuantityString")]
    assert texts == ["100", "12.500"]


def _mutations() -> st.SearchStrategy[bytes]:
    """Bytes near a real message: cut, spliced, with random elements or text swapped in."""
    base = st.sampled_from([V0401, V0701])
    cut = st.tuples(base, st.integers(0, len(V0701))).map(lambda t: t[0][: t[1]])
    splice = st.tuples(base, st.integers(0, 3000), st.binary(max_size=40)).map(
        lambda t: t[0][: t[1]] + t[2] + t[0][t[1] :]
    )
    text = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=30)
    swap = st.tuples(base, text).map(lambda t: t[0].replace(b"12.500", t[1].encode("utf-8", "replace")))
    return st.one_of(st.binary(max_size=200), cut, splice, swap)


@pytest.mark.requirement("URS-INT-002")
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutations())
def test_the_parser_never_raises_anything_but_a_refusal(data: bytes) -> None:
    try:
        doc = b2mml.parse(data)
    except MessageRefused as refused:
        message = str(refused).strip()
        doc = None
    if doc is None:
        assert message
        return
    assert doc.orders
    for order in doc.orders:
        assert order.quantity is None or order.quantity.is_finite()


def test_etree_is_not_allowed_to_resolve_entities_even_without_a_doctype_check() -> None:
    parser = etree.XMLParser(**b2mml._PARSER_OPTIONS)
    tree = etree.fromstring(HOSTILE["external entity"], parser)
    assert "root:" not in (etree.tostring(tree).decode())


_FIXTURES = sorted(DATA.glob("*.xml"))
_TEXTS = st.one_of(
    st.sampled_from(["", " ", "12.5", "-1", "2026-12-05T07:31:00Z", "2026-13-45", "true", "Produced", "x" * 300]),
    st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=20),
)


@st.composite
def _tree_mutations(draw: st.DrawFn) -> bytes:
    """A fixture with a few well-formed changes: elements dropped, doubled, renamed, retexted, attributed."""
    root = etree.fromstring(draw(st.sampled_from(_FIXTURES)).read_bytes())
    for _ in range(draw(st.integers(1, 3))):
        elements = list(root.iter())
        element = elements[draw(st.integers(0, len(elements) - 1))]
        parent = element.getparent()
        op = draw(st.sampled_from(["drop", "double", "rename", "text", "attribute"]))
        if op == "drop" and parent is not None:
            parent.remove(element)
        elif op == "double" and parent is not None:
            parent.insert(parent.index(element), etree.fromstring(etree.tostring(element)))
        elif op == "rename":
            other = elements[draw(st.integers(0, len(elements) - 1))]
            element.tag = other.tag
        elif op == "text":
            element.text = draw(_TEXTS)
        else:
            element.set(draw(st.sampled_from(["languageID", "actionCode", "releaseID", "colour"])), draw(_TEXTS))
    return bytes(etree.tostring(root))


@pytest.mark.requirement("URS-INT-002")
@settings(max_examples=EXAMPLES * 3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_tree_mutations())
def test_libxml2_and_xmlschema_agree_on_which_messages_are_valid(data: bytes) -> None:
    """Every message is validated by libxml2; xmlschema (the independent validator) must judge alike."""
    root = b2mml.safe_root(data)
    namespace = etree.QName(root).namespace
    schema = next(s for s, ns in b2mml.NAMESPACES.items() if ns == namespace)
    kind = "material" if "Material" in etree.QName(root).localname else "schedule"
    assert b2mml.compiled(schema, kind).validate(root) == b2mml.xsd(schema, kind).is_valid(root)


class _Lenient:
    """An xmlschema stand-in that finds nothing wrong, as if the two validators disagreed."""

    def iter_errors(self, _root: object) -> list[object]:
        return []


@pytest.mark.requirement("URS-INT-002")
def test_a_message_libxml2_refuses_stays_refused_when_xmlschema_finds_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(b2mml, "xsd", lambda _schema, _kind: _Lenient())
    broken = V0401.replace(b"<Priority>5</Priority>", b"<Priority>5</Priority><Colour>red</Colour>")
    with pytest.raises(MessageRefused) as refused:
        b2mml.parse(broken)
    assert refused.value.element == "/SyncProductionSchedule/DataArea/ProductionSchedule/ProductionRequest/Colour"
    assert "not expected" in str(refused.value)
