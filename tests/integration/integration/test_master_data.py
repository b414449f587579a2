"""Material master, lots and inventory from the ERP: QA's status rules, the ERP's view beside the EBR's.

The attacker's and the auditor's questions first: can an ERP message release a lot (no),
can an old or repeated message undo a newer one (no), can a message change what a
batch's quantities mean (no), does a refused message leave anything behind (no), and
does a lot the ERP blocks stop being usable at once (yes, and the scan says why).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from threading import Event
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from audit.models import AuditEvent
from ebr.bootstrap import Services
from ebr.cli import main
from ebr.core.db import unit_of_work
from ebr.core.errors import ValidationError
from ebr.execution.service import build as build_execution
from ebr.integration import masterdata, tokens
from ebr.integration.b2mml import safe_root
from ebr.integration.models import ErpLot, ErpMaterial
from ebr.integration.setup import Wiring, build
from ebr.materials import warehouse
from ebr.materials.models import Container, Lot, Material
from tests.integration.execution.conftest import PASSWORD, Floor, floor, sig  # noqa: F401 - the fixture
from tests.integration.execution.test_materials import _scan, _weigh_step
from tests.integration.integration.conftest import admin_client, example
from tests.integration.integration.master import lot_message, material_message, stored
from tests.integration.integration.test_amqp import Names, broker, drain, publish, use_amqp  # noqa: F401 - the fixture
from tests.integration.records.conftest import FixedScale


def notes(ack: bytes) -> list[str]:
    return [str(n.text) for n in safe_root(ack).iter("{*}Note")]


def answer(ack: bytes) -> str:
    return str(safe_root(ack).findtext("{*}DataArea/{*}BOD/{*}Description"))


def lot(services: Services, number: str) -> Lot:
    with services.session_factory() as session:
        found = session.scalars(select(Lot).where(Lot.lot_number == number)).one()
        session.expunge(found)
        return found


def erp_lot(services: Services, number: str) -> ErpLot:
    with services.session_factory() as session:
        found = session.get(ErpLot, number)
        assert found is not None
        session.expunge(found)
        return found


def containers(services: Services, number: str) -> list[tuple[str, Decimal]]:
    with services.session_factory() as session:
        query = select(Container).join(Lot, Lot.id == Container.lot_id).where(Lot.lot_number == number)
        return [(c.barcode, c.quantity) for c in session.scalars(query.order_by(Container.barcode))]


def actions(services: Services, entity_id: str) -> list[str]:
    with services.session_factory() as session:
        query = select(AuditEvent.action).where(AuditEvent.entity_id == entity_id).order_by(AuditEvent.seq)
        return list(session.scalars(query))


def qa_release(services: Services, number: str) -> None:
    mats = build_execution(services).materials
    with unit_of_work(services.session_factory) as session:
        warehouse.disposition(
            mats, session, actor="quinn", lot_number=number, action="release", reason="CoA and identity test passed",
            signer=sig("quinn"),
        )  # fmt: skip


@pytest.fixture
def wiring(floor: Floor) -> Wiring:  # noqa: F811 - the fixture's name
    return build(floor.services)


@pytest.mark.requirement("URS-INT-010")
def test_sap_material_master_v0401_and_a_v0701_definition_enter_the_master_with_every_language_kept(
    wiring: Wiring, services: Services
) -> None:
    receipt = wiring.receive(example("v0401-sync-material-definition.xml"), channel="erp:test")
    assert receipt.accepted, receipt.lines
    assert notes(receipt.acknowledgement) == ["material API-7: created", "material EXC-7: created"]
    v0701 = wiring.receive(example("v0701-process-material-definition.xml"), channel="erp:test")
    assert answer(v0701.acknowledgement) == "accepted"
    with services.session_factory() as session:
        api = session.get(Material, "API-7")
        assert api is not None
        # the English description names the material; SAP's KG is the plant's kg
        assert (api.name, api.unit, api.storage, api.retest_interval_days, api.hazardous) == (
            "Active ingredient 7, micronised", "kg", "2-8 °C, protect from light", 365, True,
        )  # fmt: skip
        exc = session.get(Material, "EXC-7")
        assert exc is not None
        assert (exc.name, exc.unit, exc.created_by) == ("Hilfsstoff 7", "g", "system:erp")
        solv = session.get(Material, "SOLV-7")
        assert solv is not None
        assert (solv.name, solv.unit) == ("Ethanol 96 %", "L")
        assert solv.label_text.startswith("Highly flammable")
        view = session.get(ErpMaterial, "API-7")
        assert view is not None
        assert view.descriptions == [
            {"language": "de", "text": "Wirkstoff 7, mikronisiert"},
            {"language": "en", "text": "Active ingredient 7, micronised"},
        ]
        assert {"id": "MRP_CONTROLLER", "value": "001", "unit": None} in view.properties
    assert actions(services, "API-7") == ["material.created", "erp.material.received"]


@pytest.mark.requirement("URS-INT-011")
def test_a_description_follows_the_erp_but_a_unit_change_of_a_material_in_use_is_refused_whole(
    wiring: Wiring, services: Services
) -> None:
    assert wiring.receive(material_message("RM-X", name="X", bod="M-1"), channel="erp:test").accepted
    renamed = material_message("RM-X", name="X micronised", bod="M-2", at="2026-12-05T08:01:00Z",
                               properties=[("StorageConditions", "below 25 °C")])  # fmt: skip
    assert notes(wiring.receive(renamed, channel="erp:test").acknowledgement) == [
        "material RM-X: updated (name, storage)"
    ]
    # no lot, no effective recipe: the unit may still be corrected
    grams = material_message("RM-X", unit="GRM", name="X micronised", bod="M-3", at="2026-12-05T08:02:00Z",
                             properties=[("StorageConditions", "below 25 °C")])  # fmt: skip
    assert wiring.receive(grams, channel="erp:test").accepted
    assert wiring.receive(material_message("RM-X", name="X micronised", bod="M-4", at="2026-12-05T08:03:00Z",
                                           properties=[("StorageConditions", "below 25 °C")]),
                          channel="erp:test").accepted  # fmt: skip
    assert wiring.receive(lot_message("L-1", bod="L-1", subs=()), channel="erp:test").accepted
    before = stored(services)
    litres = material_message("RM-X", unit="L", name="X in litres", bod="M-5", at="2026-12-05T10:00:00Z")
    refused = wiring.receive(litres, channel="erp:test")
    assert not refused.accepted
    [line] = notes(refused.acknowledgement)
    assert "MaterialDefinition[ID=RM-X]" in line
    assert "unit 'kg' → 'L' refused — 1 lot(s) of it are held in the EBR" in line
    assert stored(services) == before  # not even the new name: the whole message is refused
    with services.session_factory() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "material.changed")).all()
        assert json.loads(events[0].canonical)["before"] == {"name": "X", "storage": ""}


@pytest.mark.requirement("URS-INT-011")
def test_the_unit_of_a_product_an_effective_recipe_makes_cannot_change(erp: Wiring, services: Services) -> None:
    assert erp.receive(material_message("FG-SIMPLE", bod="P-1"), channel="erp:test").accepted
    refused = erp.receive(material_message("FG-SIMPLE", unit="g", bod="P-2"), channel="erp:test")
    assert not refused.accepted
    assert "effective recipe SIMPLE version 1 uses it" in notes(refused.acknowledgement)[0]


@pytest.mark.requirement("URS-INT-012")
def test_a_lot_the_erp_calls_released_arrives_in_quarantine_with_our_barcodes_and_its_status_recorded(
    wiring: Wiring, services: Services
) -> None:
    assert wiring.receive(example("v0401-sync-material-definition.xml"), channel="erp:test").accepted
    receipt = wiring.receive(example("v0401-sync-material-lot.xml"), channel="erp:test")
    assert receipt.accepted, receipt.lines
    [line] = notes(receipt.acknowledgement)
    assert line.startswith("lot 0000471100: received in quarantine, 2 container(s)")
    assert "the ERP's status 'Released' is recorded, not applied: QA releases lots" in line
    received = lot(services, "0000471100")
    assert (received.status, received.quantity, received.supplier, received.supplier_lot, received.expires_on) == (
        "quarantine", Decimal("37.500"), "100234 Pharma Chem GmbH", "PC-2026-0815", dt.date(2028, 6, 30),
    )  # fmt: skip
    assert received.retest_on == dt.date.today() + dt.timedelta(days=365)  # the master's interval  # noqa: DTZ011
    assert containers(services, "0000471100") == [
        ("0000471100-001", Decimal("25.000")), ("0000471100-002", Decimal("12.5")),
    ]  # fmt: skip
    view = erp_lot(services, "0000471100")
    assert (view.status, view.quantity, view.unit) == ("Released", Decimal("37.500"), "kg")
    assert [(s["id"], s["container"], s["quantity"]) for s in view.sublots] == [
        ("00000000001000000001", "0000471100-001", "25.000"),
        ("00000000001000000002", "0000471100-002", "12.5"),
    ]
    mats = build_execution(services).materials
    with services.session_factory() as session:
        labels = warehouse.labels_of(mats, session, "0000471100")
        assert [(label.barcode, label.status) for label in labels] == [
            ("0000471100-001", "quarantine"), ("0000471100-002", "quarantine"),
        ]  # fmt: skip
        with pytest.raises(ValidationError, match="is quarantine, not released"):
            mats.usable_container(session, barcode="0000471100-001", material="API-7", needed=Decimal(1))
    assert actions(services, "0000471100") == ["lot.received", "erp.lot.received"]
    # the V0701 lot: litres from "LTR", the disposition "UnRestricted" is not a release either
    assert wiring.receive(example("v0701-process-material-definition.xml"), channel="erp:test").accepted
    v0701 = wiring.receive(example("v0701-sync-material-lot.xml"), channel="erp:test")
    assert v0701.accepted, v0701.lines
    assert lot(services, "L-SOLV-0042").status == "quarantine"
    assert erp_lot(services, "L-SOLV-0042").disposition == "UnRestricted"


@pytest.mark.requirement("URS-INT-012")
def test_an_erp_release_of_a_lot_in_quarantine_never_releases_it(wiring: Wiring, services: Services) -> None:
    assert wiring.receive(material_message("RM-X", bod="M-1"), channel="erp:test").accepted
    assert wiring.receive(lot_message("L-7", status="QualityInspection", bod="B-1"), channel="erp:test").accepted
    later = lot_message("L-7", status="Released", disposition="UnRestricted", bod="B-2", at="2026-12-05T10:00:00Z")
    receipt = wiring.receive(later, channel="erp:test")
    assert receipt.accepted
    assert "recorded, not applied: QA releases lots" in notes(receipt.acknowledgement)[0]
    assert lot(services, "L-7").status == "quarantine"
    assert erp_lot(services, "L-7").status == "Released"
    assert "lot.status.changed" not in actions(services, "L-7")


@pytest.mark.requirement("URS-INT-013")
def test_a_repeated_message_and_an_older_message_change_nothing(wiring: Wiring, services: Services) -> None:
    assert wiring.receive(material_message("RM-X", bod="M-1"), channel="erp:test").accepted
    first = lot_message("L-8", quantity="30", bod="B-1", at="2026-12-05T09:00:00Z")
    assert wiring.receive(first, channel="erp:test").accepted
    newer = lot_message("L-8", quantity="28", subs=(("S1", "28"),), bod="B-3", at="2026-12-05T11:00:00Z")
    assert wiring.receive(newer, channel="erp:test").accepted
    before = stored(services)
    again = wiring.receive(newer, channel="erp:test")
    assert again.duplicate
    late = lot_message("L-8", quantity="25", subs=(("S1", "25"),), status="Blocked", bod="B-2",
                       at="2026-12-05T10:00:00Z")  # fmt: skip
    receipt = wiring.receive(late, channel="erp:test")
    assert notes(receipt.acknowledgement) == [
        "lot L-8: ignored, sent at 2026-12-05 10:00:00 UTC, before the message already applied (B-3)"
    ]
    after = stored(services)
    assert (after["lots"], after["integration_erp_lot"]) == (before["lots"], before["integration_erp_lot"])
    assert erp_lot(services, "L-8").quantity == Decimal("28")
    # V0701 versions: a lower version is older whatever its time stamp
    assert wiring.receive(material_message("RM-V", version="5", bod="V-5"), channel="erp:test").accepted
    old = material_message("RM-V", version="4", name="renamed", bod="V-4", at="2026-12-06T00:00:00Z")
    assert notes(wiring.receive(old, channel="erp:test").acknowledgement) == [
        "material RM-V: ignored, version 4 is older than version 5 already applied"
    ]
    with services.session_factory() as session:
        material = session.get(Material, "RM-V")
        assert material is not None
        assert material.name == "RM-V"


@pytest.mark.requirement("URS-INT-014")
def test_an_erp_block_puts_a_released_lot_on_hold_and_the_next_scan_is_refused_naming_the_message(
    floor: Floor,  # noqa: F811 - the fixture's name
    wiring: Wiring,
    services: Services,
) -> None:
    assert wiring.receive(material_message("RM-X", bod="M-1"), channel="erp:test").accepted
    arrival = lot_message("L-9", status="QualityInspection", quantity="50", subs=(("D1", "50"),), bod="B-1")
    assert wiring.receive(arrival, channel="erp:test").accepted
    qa_release(services, "L-9")
    # the ERP has not heard of the release yet and says "QualityInspection" again: not a block
    stock = lot_message("L-9", status="QualityInspection", quantity="50", subs=(("D1", "50"),), bod="B-2",
                        at="2026-12-05T09:30:00Z")  # fmt: skip
    assert wiring.receive(stock, channel="erp:test").accepted
    assert lot(services, "L-9").status == "released"
    number = _weigh_step(floor)
    blocked = lot_message("L-9", status="Unrestricted", quantity="50", subs=(("D1", "50"),), bod="B-3",
                          at="2026-12-05T10:00:00Z")  # fmt: skip
    assert wiring.receive(blocked, channel="erp:test").accepted
    blocked = lot_message("L-9", status="Blocked", quantity="50", subs=(("D1", "50"),), bod="ERP-BLOCK-1",
                          at="2026-12-05T11:00:00Z")  # fmt: skip
    receipt = wiring.receive(blocked, channel="erp:test")
    assert notes(receipt.acknowledgement) == [
        "lot L-9: put on hold (quarantine), the ERP reports it Blocked; QA decides"
    ]
    assert lot(services, "L-9").status == "quarantine"
    with services.session_factory() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "lot.status.changed", AuditEvent.entity_id == "L-9")
            .order_by(AuditEvent.seq.desc())
        ).first()  # fmt: skip
        assert event is not None
        content = json.loads(event.canonical)
        assert (event.actor, content["before"], content["after"]) == (
            "system:erp",
            {"status": "released"},
            {"status": "quarantine"},
        )
        assert "ERP message ERP-BLOCK-1" in str(event.reason)
    with pytest.raises(ValidationError, match=r"lot L-9 is quarantine, not released \(ERP message ERP-BLOCK-1"):
        _scan(floor, number, "L-9-001")


@pytest.mark.requirement("URS-INT-015")
def test_the_erp_quantity_is_recorded_beside_the_ebrs_and_the_difference_reported(
    wiring: Wiring, services: Services, app: Flask
) -> None:
    assert wiring.receive(material_message("RM-X", bod="M-1"), channel="erp:test").accepted
    assert wiring.receive(lot_message("L-10", quantity="30", bod="B-1"), channel="erp:test").accepted
    mats = build_execution(services).materials
    with unit_of_work(services.session_factory) as session:
        warehouse.take_sample(mats, session, actor="quinn", lot_number="L-10", barcode="L-10-001", amount="0.5",
                              purpose="identity test")  # fmt: skip
    count = lot_message("L-10", quantity="29.8", subs=(("S1", "29.8"),), bod="B-2", at="2026-12-05T12:00:00Z")
    receipt = wiring.receive(count, channel="erp:test")
    assert notes(receipt.acknowledgement)[0].startswith(
        "lot L-10: ERP view recorded (EBR status quarantine, EBR quantity 29.5)"
    )
    assert lot(services, "L-10").quantity == Decimal("29.5")  # never overwritten by the ERP
    assert containers(services, "L-10") == [("L-10-001", Decimal("29.5"))]
    with services.session_factory() as session:
        [line] = masterdata.inventory(session, differences_only=True)
    assert (line.lot_number, line.ebr_quantity, line.erp_quantity, line.difference) == (
        "L-10", Decimal("29.5"), Decimal("29.8"), Decimal("0.3"),
    )  # fmt: skip
    result = CliRunner().invoke(main, ["erp", "inventory", "--differences"], obj=services)
    assert result.exit_code == 0, result.output
    assert "L-10" in result.output
    assert "+0.3" in result.output
    status = CliRunner().invoke(main, ["erp", "status"], obj=services)
    assert "lots from the ERP: 1, 1 with a quantity other than the EBR's" in status.output
    client = admin_client(app, services)
    page = client.get("/admin/integration").get_data(as_text=True)
    assert "1 lot(s) reported by the ERP; 1 with a quantity other than the EBR's" in page
    assert "+0.3 kg" in page


REFUSED = {
    "unknown material": (
        lot_message("L-X", material="NOPE", bod="R-1"),
        "MaterialLot[ID=L-X]/MaterialDefinitionID: material NOPE is not in the material master",
    ),
    "no expiry": (lot_message("L-X", expiry=None, bod="R-2"), "a new lot needs its expiry"),
    "sublots not the lot": (
        lot_message("L-X", quantity="31", bod="R-3"),
        "the sublots hold 30 kg but the lot is 31 kg",
    ),
    "litres of a solid": (lot_message("L-X", unit="L", bod="R-4"), "cannot convert L to kg"),
    "no supplier": (lot_message("L-X", supplier=None, bod="R-5"), "supplier is required"),
    "expired on arrival": (lot_message("L-X", expiry="2020-01-01", bod="R-6"), "expiry 2020-01-01 is not after"),
    "not a date": (lot_message("L-X", expiry="31.01.2030", bod="R-7"), "'31.01.2030' is not a date"),
    "negative": (lot_message("L-X", quantity="-3", subs=(), bod="R-8"), "'-3' is not a quantity"),
    "delete": (
        lot_message("L-X", bod="R-9").replace(
            b"<Sync/>", b'<Sync><ActionCriteria><ActionExpression actionCode="Delete"/></ActionCriteria></Sync>'
        ),
        "does not delete materials or lots",
    ),
    "no unit for a new material": (material_message("RM-NEW", unit="", bod="R-10"), "needs its base unit"),
    "not a plant unit": (material_message("RM-NEW", unit="furlong", bod="R-11"), "furlong"),
    "schema": (lot_message("L-X", bod="R-12").replace(b"<Status>", b"<Colour>red</Colour><Status>"), "Colour"),
    "doctype": (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b'<SyncMaterialLot xmlns="http://www.mesa.org/xml/B2MML">&e;</SyncMaterialLot>',
        "DOCTYPE",
    ),
}


@pytest.mark.requirement("URS-INT-016")
@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_forged_or_invalid_master_data_message_is_refused_naming_the_problem_and_stores_nothing(
    wiring: Wiring, services: Services, case: str
) -> None:
    assert wiring.receive(material_message("RM-X", bod="M-1"), channel="erp:test").accepted
    before = stored(services)
    data, expected = REFUSED[case]
    receipt = wiring.receive(data, channel="erp:test")
    assert not receipt.accepted
    assert answer(receipt.acknowledgement) == "error"
    [line] = notes(receipt.acknowledgement)
    assert expected in line
    assert stored(services) == before


@pytest.mark.requirement("URS-INT-017", "URS-INT-012")
def test_over_rabbitmq_a_lot_arrives_in_quarantine_and_is_usable_only_after_qa_releases_it(
    wiring: Wiring,
    services: Services,
    broker: Names,  # noqa: F811 - the fixture's name
) -> None:
    use_amqp(wiring, broker)
    publish(broker, example("v0401-sync-material-definition.xml"), "ERP-MAT-1")
    publish(broker, example("v0401-sync-material-lot.xml"), "ERP-LOT-1")
    publish(broker, example("v0401-sync-material-lot.xml"), "ERP-LOT-1")  # redelivered: the same message id
    assert wiring.consumer().run(max_messages=3, idle_seconds=2) == 3
    replies = drain(broker.replies)
    assert [props.correlation_id for props, _ in replies] == ["ERP-MAT-1", "ERP-LOT-1", "ERP-LOT-1"]
    assert [answer(body) for _, body in replies] == ["accepted"] * 3
    assert replies[1][1] == replies[2][1]  # the first answer again, nothing applied twice
    assert lot(services, "0000471100").status == "quarantine"
    mats = build_execution(services).materials
    with services.session_factory() as session, pytest.raises(ValidationError, match="not released"):
        mats.usable_container(session, barcode="0000471100-002", material="API-7", needed=Decimal(10))
    qa_release(services, "0000471100")
    with services.session_factory() as session:
        usable = mats.usable_container(session, barcode="0000471100-002", material="API-7", needed=Decimal(10))
        assert usable.quantity == Decimal("12.5")
    assert len(containers(services, "0000471100")) == 2


@pytest.mark.requirement("URS-INT-016")
def test_any_lot_message_is_applied_whole_or_refused_storing_nothing(wiring: Wiring, services: Services) -> None:
    assert wiring.receive(material_message("RM-X", bod="M-1"), channel="erp:test").accepted
    numbers = st.one_of(st.decimals(allow_nan=True, allow_infinity=True).map(str), st.sampled_from(["", "1e9", "0"]))
    fields = st.fixed_dictionaries({
        "quantity": numbers,
        "unit": st.sampled_from(["kg", "KGM", "g", "L", "pcs", "", "°C"]),
        "status": st.sampled_from(["Released", "Blocked", "", "QI", "Unrestricted"]),
        "expiry": st.sampled_from(["2030-01-31", "2020-01-01", "2030-02-30", "", "2031-01-01T00:00:00+02:00"]),
        "split": st.booleans(),
    })  # fmt: skip
    seen = iter(range(10_000))

    @settings(max_examples=int(os.environ.get("EBR_FUZZ_EXAMPLES", "25")), deadline=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(fields)
    def apply(sent: dict[str, Any]) -> None:
        n = next(seen)
        subs = (("S1", sent["quantity"]),) if sent["split"] else ()
        data = lot_message(f"F-{n}", quantity=sent["quantity"], unit=sent["unit"], status=sent["status"] or None,
                           expiry=sent["expiry"] or None, subs=subs, bod=f"F-{n}")  # fmt: skip
        before = stored(services)
        receipt = wiring.receive(data, channel="erp:test")
        if not receipt.accepted:
            assert answer(receipt.acknowledgement) == "error"
            assert notes(receipt.acknowledgement)[0].strip()
            assert stored(services) == before
        else:
            assert lot(services, f"F-{n}").status == "quarantine"

    apply()


@pytest.mark.requirement("URS-INT-013")
def test_the_same_new_lot_sent_twice_at_once_is_received_once(wiring: Wiring, services: Services) -> None:
    assert wiring.receive(material_message("RM-X", bod="M-1"), channel="erp:test").accepted
    messages = [lot_message("L-RACE", bod=f"RACE-{i}", subs=(("S1", "10"), ("S2", "20"))) for i in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        receipts = list(pool.map(lambda data: wiring.receive(data, channel="erp:test"), messages))
    assert all(r.accepted for r in receipts), [r.lines for r in receipts]
    assert sum(1 for r in receipts for line in r.lines if "received in quarantine" in line) == 1
    assert containers(services, "L-RACE") == [("L-RACE-001", Decimal(10)), ("L-RACE-002", Decimal(20))]
    assert stored(services)["lots"] == [("L-RACE", "quarantine", Decimal(30))]


def _hold_the_first_call(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> tuple[Event, Event]:
    """Hold the first call of ``owner.name`` until told to go on: the critical point of a race, forced.

    Returns ``(reached, go)``: ``reached`` is set when the first caller is held there; it goes
    on when ``go`` is set (or after 10 s, should the code under test make the other writer wait
    for it instead). Later calls pass straight through.
    """
    real = getattr(owner, name)
    reached, go = Event(), Event()

    def held(*args: Any, **kwargs: Any) -> Any:
        if not reached.is_set():
            reached.set()
            go.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, held)
    return reached, go


@pytest.mark.requirement("URS-INT-013", "URS-INT-012")
@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_new_lot_received_by_another_message_after_this_one_looked_for_it_is_received_once(
    wiring: Wiring, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The flaky interleaving, forced: B looks for lot L-RACE (none yet) and is held just before its goods
    receipt; A receives the lot and commits; B goes on. B must find A's lot and record the ERP's view —
    the same lot received once — not refuse its message because "lot L-RACE already exists"."""
    assert wiring.receive(material_message("RM-X", bod="M-1"), channel="erp:test").accepted
    reached, go = _hold_the_first_call(monkeypatch, warehouse, "receive_goods")
    subs = (("S1", "10"), ("S2", "20"))
    with ThreadPoolExecutor(max_workers=1) as pool:
        late = pool.submit(wiring.receive, lot_message("L-RACE", bod="RACE-B", subs=subs), channel="erp:test")
        assert reached.wait(10), "B never reached its goods receipt"
        first = wiring.receive(lot_message("L-RACE", bod="RACE-A", subs=subs), channel="erp:test")
        go.set()
        second = late.result(timeout=30)
    assert first.accepted, first.lines
    assert second.accepted, second.lines  # not refused: the same lot (material) received once
    assert [line.split(",")[0] for line in first.lines + second.lines] == [
        "lot L-RACE: received in quarantine", "lot L-RACE: ERP view recorded (EBR status quarantine",
    ]  # fmt: skip
    assert containers(services, "L-RACE") == [("L-RACE-001", Decimal(10)), ("L-RACE-002", Decimal(20))]
    assert stored(services)["lots"] == [("L-RACE", "quarantine", Decimal(30))]
    # one receipt in the trail; the second message is the ERP's view recorded again, under its own id
    assert actions(services, "L-RACE") == ["lot.received", "erp.lot.received", "erp.lot.changed"]
    assert erp_lot(services, "L-RACE").message_id == "RACE-B"


@pytest.mark.requirement("URS-INT-013", "URS-INT-010")
@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_new_material_created_by_another_message_after_this_one_looked_for_it_is_created_once(
    wiring: Wiring, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same race for a material: B finds no RM-R and is held before creating it; A creates it and
    commits; B goes on and must update A's material, not refuse with "material RM-R already exists"."""
    reached, go = _hold_the_first_call(monkeypatch, wiring.inbound.master.materials, "create_material")
    with ThreadPoolExecutor(max_workers=1) as pool:
        late = pool.submit(wiring.receive, material_message("RM-R", name="Late", bod="MAT-B"), channel="erp:test")
        assert reached.wait(10), "B never reached its material creation"
        first = wiring.receive(material_message("RM-R", name="First", bod="MAT-A"), channel="erp:test")
        go.set()
        second = late.result(timeout=30)
    assert first.accepted, first.lines
    assert second.accepted, second.lines  # not refused: the same lot (material) received once
    assert first.lines + second.lines == ["material RM-R: created", "material RM-R: updated (name)"]
    with services.session_factory() as session:
        material = session.get(Material, "RM-R")
        assert material is not None
        assert material.name == "Late"
    assert actions(services, "RM-R") == ["material.created", "erp.material.received", "material.changed",
                                         "erp.material.received"]  # fmt: skip


@pytest.mark.requirement("URS-INT-017")
def test_master_data_arrives_through_the_watched_folder_and_the_http_api_too(
    wiring: Wiring, services: Services, app: Flask
) -> None:
    folder = wiring.settings.channel("erp").folder
    for sub in ("in", "out", "done", "refused"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / "in" / "a-materials.xml").write_bytes(example("v0401-sync-material-definition.xml"))
    (folder / "in" / "b-lot.xml").write_bytes(example("v0401-sync-material-lot.xml"))
    (folder / "in" / "c-unknown.xml").write_bytes(lot_message("L-Q", material="NOPE", bod="Q-1"))
    done = wiring.import_folder()
    assert [(path.parent.name, path.name) for path, _ in done] == [
        ("done", "a-materials.xml"), ("done", "b-lot.xml"), ("refused", "c-unknown.xml"),
    ]  # fmt: skip
    assert (
        "material NOPE is not in the material master" in notes((folder / "out" / "ack-c-unknown.xml").read_bytes())[0]
    )
    assert lot(services, "0000471100").status == "quarantine"
    with unit_of_work(services.session_factory) as session:
        token = tokens.create(session, audit=services.audit, clock=services.clock, actor="admin", name="SAP-PRD")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/xml"}
    client = app.test_client()
    body = example("v0701-process-material-definition.xml")
    assert client.post("/api/integration/b2mml", data=body, headers=headers).status_code == 200
    no_expiry = lot_message("L-H", material="SOLV-7", unit="L", expiry=None, bod="H-1")
    refused = client.post("/api/integration/b2mml", data=no_expiry, headers=headers)
    assert refused.status_code == 422
    assert "a new lot needs its expiry" in notes(refused.get_data())[0]
    with services.session_factory() as session:
        assert session.get(Material, "SOLV-7") is not None
        assert session.scalars(select(Lot).where(Lot.lot_number == "L-H")).first() is None


@pytest.mark.requirement("URS-INT-010", "URS-INT-012")
def test_material_information_brings_a_material_and_its_lot_in_one_transaction(
    wiring: Wiring, services: Services
) -> None:
    definition = material_message("RM-I", bod="X").split(b"<Sync/>")[1].split(b"</DataArea>")[0]
    lot_body = lot_message("L-I", material="RM-I", bod="X").split(b"<Sync/>")[1].split(b"</DataArea>")[0]
    data = (
        b'<?xml version="1.0" encoding="UTF-8"?><ProcessMaterialInformation xmlns="http://www.mesa.org/xml/B2MML" '
        b'releaseID="V0701"><ApplicationArea><CreationDateTime>2026-12-05T08:00:00Z</CreationDateTime>'
        b"<BODID>INFO-1</BODID></ApplicationArea><DataArea><Process/><MaterialInformation>"
        + definition + lot_body + b"</MaterialInformation></DataArea></ProcessMaterialInformation>"
    )  # fmt: skip
    receipt = wiring.receive(data, channel="erp:test")
    assert receipt.accepted, receipt.lines
    assert notes(receipt.acknowledgement)[0] == "material RM-I: created"
    assert lot(services, "L-I").status == "quarantine"
    broken = data.replace(b"INFO-1", b"INFO-2").replace(b"L-I<", b"L-J<").replace(b"2030-01-31", b"2020-01-01")
    refused = wiring.receive(broken.replace(b"RM-I", b"RM-J"), channel="erp:test")
    assert not refused.accepted
    with services.session_factory() as session:
        assert session.get(Material, "RM-J") is None  # the material of a refused message is not kept either


@pytest.mark.requirement("URS-INT-014")
def test_a_container_scanned_before_the_erp_block_cannot_be_consumed_after_it(
    floor: Floor,  # noqa: F811 - the fixture's name
    wiring: Wiring,
    services: Services,
) -> None:
    scale = FixedScale()
    floor.execution.ctx.scale = scale
    assert wiring.receive(material_message("RM-X", bod="M-1"), channel="erp:test").accepted
    arrival = lot_message("L-11", status="Unrestricted", quantity="50", subs=(("D1", "50"),), bod="B-1")
    assert wiring.receive(arrival, channel="erp:test").accepted
    qa_release(services, "L-11")
    number = _weigh_step(floor)
    for values, weight in (({"container": "L-11-001"}, "0"), ({"tare": True}, "0"), ({"weigh": True}, "10.000")):
        scale.weight = Decimal(weight)
        floor.work(floor.execution.record, actor="olga", ref=number, path="UP1.OP1.PH1", values=values)
    block = lot_message("L-11", status="Blocked", quantity="50", subs=(("D1", "50"),), bod="ERP-BLOCK-2",
                        at="2026-12-05T11:00:00Z")  # fmt: skip
    assert wiring.receive(block, channel="erp:test").accepted
    with pytest.raises(ValidationError, match=r"lot L-11 is quarantine, not released \(ERP message ERP-BLOCK-2"):
        floor.work(
            floor.execution.complete_step, actor="olga", ref=number, path="UP1.OP1.PH1",
            signatures=[sig("olga"), sig("sam", "verified")],
        )  # fmt: skip
    assert lot(services, "L-11").quantity == Decimal(50)
    assert containers(services, "L-11") == [("L-11-001", Decimal(50))]
