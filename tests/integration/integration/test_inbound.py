"""Process orders from the ERP: planned or held, idempotent, in order, changed or cancelled only before start."""

from __future__ import annotations

import os
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from audit.models import AuditEvent
from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.execution.models import Batch
from ebr.execution.service import build as build_execution
from ebr.integration.b2mml import safe_root
from ebr.integration.models import ProcessOrder
from ebr.integration.setup import Wiring
from ebr.ops.records import reconcile
from tests.integration.integration.conftest import add_materials, counts, example

V0401 = example("v0401-sync-production-schedule.xml")
V0701 = example("v0701-sync-operations-schedule.xml")
PRODUCED_KG = (
    b"<QuantityString>100.000</QuantityString>\n              <DataType>decimal</DataType>\n"
    b"              <UnitOfMeasure>kg<"
)


def order(services: Services, order_id: str) -> ProcessOrder:
    with services.session_factory() as session:
        found = session.scalars(select(ProcessOrder).where(ProcessOrder.order_id == order_id)).one()
        session.expunge(found)
        return found


def batch(services: Services, number: str | None) -> Batch:
    with services.session_factory() as session:
        found = session.scalars(select(Batch).where(Batch.number == number)).one()
        session.expunge(found)
        return found


def notes(ack: bytes) -> list[str]:
    return [str(n.text) for n in safe_root(ack).iter("{*}Note")]


def v0701(version: str, quantity: str = "120", *, bod: str, cancel: bool = False) -> bytes:
    data = V0701.replace(b"<Version>1</Version>", f"<Version>{version}</Version>".encode())
    data = data.replace(
        b"<QuantityString>120</QuantityString>", f"<QuantityString>{quantity}</QuantityString>".encode()
    )
    data = data.replace(b"BOD-V0701-000001", bod.encode())
    if cancel:
        data = data.replace(
            b"<Sync/>", b'<Sync><ActionCriteria><ActionExpression actionCode="Delete"/></ActionCriteria></Sync>'
        )
    return data


@pytest.mark.requirement("URS-INT-001")
def test_an_order_becomes_a_planned_batch_of_the_effective_recipe_with_its_bom_kept(
    erp: Wiring, services: Services
) -> None:
    add_materials(services, "API-1", "EXC-1")
    receipt = erp.receive(V0401, channel="erp:test")
    assert receipt.accepted
    assert not receipt.duplicate
    row = order(services, "4711000001")
    assert (row.status, row.product, str(row.quantity), row.unit) == ("planned", "FG-SIMPLE", "100.000", "kg")
    assert [(b["material"], b["quantity"]) for b in row.bom] == [("API-1", "12.500"), ("EXC-1", "87.5")]
    planned = batch(services, row.batch_number)
    assert (planned.status, planned.production_order, planned.recipe_name, str(planned.size)) == (
        "created", "4711000001", "SIMPLE", "100.000",
    )  # fmt: skip
    assert notes(receipt.acknowledgement) == [f"order 4711000001: planned, batch {planned.number}"]
    with services.session_factory() as session:
        # the row-image event of the transaction (records.written, audit v2) comes last; not ours
        query = select(AuditEvent.action).where(AuditEvent.action != "records.written").order_by(AuditEvent.seq)
        actions = list(session.scalars(query))[-3:]
    assert actions == ["batch.created", "erp.order.received", "erp.message.applied"]


@pytest.mark.requirement("URS-INT-001")
@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ((b"FG-SIMPLE", b"FG-OTHER"), "no recipe makes product FG-OTHER"),
        ((b"<QuantityString>100.000</QuantityString>", b"<QuantityString>400</QuantityString>"), "outside recipe"),
        ((PRODUCED_KG, PRODUCED_KG.replace(b">kg<", b">L<")), "does not convert"),
        ((b"", b""), "unknown material API-1, EXC-1"),
    ],
)  # fmt: skip
def test_an_order_that_cannot_be_planned_is_held_with_the_reason(
    erp: Wiring, services: Services, change: tuple[bytes, bytes], reason: str
) -> None:
    if change[0]:
        add_materials(services, "API-1", "EXC-1")
    data = V0401.replace(*change) if change[0] else V0401
    receipt = erp.receive(data, channel="erp:test")
    row = order(services, "4711000001")
    assert row.status == "held"
    assert reason in str(row.hold_reason)
    assert row.batch_number is None
    assert len(row.bom) == 2
    assert reason in notes(receipt.acknowledgement)[0]
    assert counts(services)["batch"] == 0


@pytest.mark.requirement("URS-INT-001")
def test_a_held_order_sent_again_is_planned_once_its_problem_is_solved(erp: Wiring, services: Services) -> None:
    erp.receive(V0701, channel="erp:test")
    assert "unknown material API-1" in str(order(services, "4711000002").hold_reason)
    add_materials(services, "API-1")
    erp.receive(v0701("1", bod="BOD-AGAIN"), channel="erp:test")
    assert order(services, "4711000002").status == "planned"


@pytest.mark.requirement("URS-INT-003")
def test_the_same_message_twice_changes_nothing_and_gets_the_same_answer(erp: Wiring, services: Services) -> None:
    add_materials(services, "API-1")
    first = erp.receive(V0701, channel="erp:test")
    before = counts(services)
    again = erp.receive(V0701, channel="erp:test")
    assert again.duplicate
    assert again.acknowledgement == first.acknowledgement
    assert counts(services) == before
    # The same order version under a new message id: applied as a message, the order unchanged.
    other = erp.receive(v0701("1", bod="BOD-NEW"), channel="erp:test")
    assert notes(other.acknowledgement) == [
        f"order 4711000002: unchanged (planned, batch {order(services, '4711000002').batch_number})"
    ]
    assert counts(services)["batch"] == 1


@pytest.mark.requirement("URS-INT-003")
def test_an_older_version_arriving_late_is_ignored(erp: Wiring, services: Services) -> None:
    add_materials(services, "API-1")
    erp.receive(v0701("2", "110", bod="B2"), channel="erp:test")
    late = erp.receive(v0701("1", "90", bod="B1"), channel="erp:test")
    assert "ignored, version 1 is older than version 2" in notes(late.acknowledgement)[0]
    row = order(services, "4711000002")
    assert (row.revision, str(row.quantity)) == ("2", "110")
    assert str(batch(services, row.batch_number).size) == "110"


@pytest.mark.requirement("URS-INT-003")
def test_a_change_before_start_replans_and_a_cancel_cancels_the_batch(erp: Wiring, services: Services) -> None:
    add_materials(services, "API-1")
    erp.receive(v0701("1", bod="B1"), channel="erp:test")
    first = order(services, "4711000002").batch_number
    erp.receive(v0701("2", "130", bod="B2"), channel="erp:test")
    second = order(services, "4711000002").batch_number
    assert second != first
    assert batch(services, first).status == "aborted"
    assert str(batch(services, second).size) == "130"
    cancel = erp.receive(v0701("3", "130", bod="B3", cancel=True), channel="erp:test")
    assert notes(cancel.acknowledgement) == ["order 4711000002: cancelled"]
    assert order(services, "4711000002").status == "cancelled"
    assert batch(services, second).status == "aborted"
    with services.session_factory() as session:
        reasons = session.scalars(select(AuditEvent.reason).where(AuditEvent.action == "batch.cancelled")).all()
    assert reasons == [
        "ERP order 4711000002 changed before the batch started",
        "ERP order 4711000002 cancelled before the batch started",
    ]


@pytest.mark.requirement("URS-INT-003")
def test_a_change_or_cancel_for_a_started_batch_is_refused_and_reported(erp: Wiring, services: Services) -> None:
    add_materials(services, "API-1")
    erp.receive(v0701("1", bod="B1"), channel="erp:test")
    number = order(services, "4711000002").batch_number
    ex = build_execution(services)
    with unit_of_work(services.session_factory) as session:
        ex.release_to_floor(session, actor="sam", ref=str(number))
    with unit_of_work(services.session_factory) as session:
        ex.start_batch(session, actor="olga", ref=str(number))
    for data in (v0701("2", "130", bod="B2"), v0701("3", bod="B3", cancel=True)):
        receipt = erp.receive(data, channel="erp:test")
        assert not receipt.accepted
        assert f"refused, batch {number} is in_execution" in notes(receipt.acknowledgement)[0]
    row = order(services, "4711000002")
    assert (row.status, row.revision, row.batch_number) == ("planned", "1", number)
    assert batch(services, number).status == "in_execution"


@pytest.mark.requirement("URS-INT-002")
@pytest.mark.parametrize(
    "data",
    [
        b"<SyncOperationsSchedule",
        V0701.replace(b"<Priority>3</Priority>", b"<Priority>high</Priority>"),
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
    ],
    ids=["malformed", "schema-invalid", "hostile"],
)
def test_a_refused_message_gets_an_error_answer_and_stores_nothing(
    erp: Wiring, services: Services, data: bytes
) -> None:
    before = counts(services)
    receipt = erp.receive(data, channel="erp:test")
    assert not receipt.accepted
    root = safe_root(receipt.acknowledgement)
    assert root.findtext("{*}DataArea/{*}BOD/{*}Description") == "error"
    assert notes(receipt.acknowledgement)[0]
    assert counts(services) == before


@pytest.mark.requirement("URS-INT-002")
@settings(max_examples=int(os.environ.get("EBR_FUZZ_EXAMPLES", "15")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(st.tuples(st.integers(0, len(V0401)), st.binary(min_size=1, max_size=12)))
def test_fuzzed_messages_are_answered_and_either_applied_whole_or_not_at_all(
    erp: Wiring, services: Services, cut: tuple[int, bytes]
) -> None:
    at, junk = cut
    data = V0401[:at] + junk + V0401[at:]
    before = counts(services)
    receipt = erp.receive(data.replace(b"BOD-V0401-000001", junk.hex().encode()), channel="erp:fuzz")
    after = counts(services)
    if not receipt.accepted and not receipt.duplicate:
        assert after == before
    assert safe_root(receipt.acknowledgement) is not None


@pytest.mark.requirement("URS-AUD-030", "URS-INT-024")
def test_orders_applied_together_leave_rows_that_match_their_images_in_the_trail(
    erp: Wiring, services: Services
) -> None:
    add_materials(services, "API-1")
    other = v0701("1", "90", bod="IMG-3").replace(b"4711000002", b"4711000003")
    receipts = erp.receive_many(
        [
            (v0701("1", bod="IMG-1"), None), (v0701("2", "130", bod="IMG-2"), None), (other, None),
            (v0701("1", bod="IMG-1"), None),
        ],
        channel="erp",
    )  # fmt: skip
    assert [r.duplicate for r in receipts] == [False, False, False, True]
    with services.session_factory() as session:
        report = reconcile(session)
        rows = session.scalars(select(ProcessOrder).order_by(ProcessOrder.order_id)).all()
    assert report.ok, [f.describe() for f in report.findings]
    # the first changed in the run (flushed before its change), the other inserted with the run's new rows
    assert [(r.order_id, r.quantity, r.version) for r in rows] == [
        ("4711000002", Decimal(130), 1), ("4711000003", Decimal(90), 1),
    ]  # fmt: skip
