"""The outbox: written with the change, delivered in order through the folder, retried, dead-lettered."""

from __future__ import annotations

import dataclasses
import time
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.execution.service import build as build_execution
from ebr.integration.b2mml import Schema, safe_root, validate
from ebr.integration.models import OutboxMessage
from ebr.integration.settings import Channel
from ebr.integration.setup import Wiring
from ebr.integration.transports import DeliveryError, FolderTransport, Message
from ebr.integration.worker import DeliveryWorker, retry
from tests.integration.integration.conftest import add_materials, example
from tests.integration.integration.flow import planned_batch, receive_lot, run_to_release
from tests.support.faults import fail_audit_on


def outbox(services: Services) -> list[OutboxMessage]:
    with services.session_factory() as session:
        rows = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at, OutboxMessage.id)))
        session.expunge_all()
        return rows


def _texts(body: bytes | str, name: str) -> list[str]:
    data = body.encode() if isinstance(body, str) else body
    return [str(e.text) for e in safe_root(data).iter(f"{{*}}{name}")]


def _other(body: str) -> str | None:
    state = next(safe_root(body.encode()).iter("{*}ResponseState"))
    return None if state.get("OtherValue") is None else str(state.get("OtherValue"))


@pytest.fixture
def order_run(erp: Wiring, services: Services) -> str:
    """The V0701 order planned, run with 15 kg of API-1 from two containers, and released by QA."""
    add_materials(services, "API-1")
    receive_lot(services, "API-1", "L-API-7", "10")
    receive_lot(services, "API-1", "L-API-8", "10")
    erp.receive(example("v0701-sync-operations-schedule.xml"), channel="erp:test")
    number = planned_batch(services, "4711000002")
    run_to_release(services, erp, number, consume={"C-L-API-7-1": "10", "C-L-API-8-1": "5.000"})
    return number


@pytest.mark.requirement("URS-INT-004")
def test_the_batch_reports_status_goods_issue_receipt_and_performance_matching_its_record(
    erp: Wiring, services: Services, order_run: str
) -> None:
    rows = outbox(services)
    assert [(r.kind, _texts(r.body, "ResponseState")) for r in rows] == [
        ("order_status", ["Ready"]),
        ("order_status", ["Running"]),
        ("goods_issue", ["Running"]),
        ("goods_issue", ["Running"]),
        ("goods_receipt", ["Completed"]),
        ("order_status", ["Completed"]),
        ("performance", ["Other"]),  # QA's release: B2MML has no such state, so Other with OtherValue
    ]
    assert [_other(r.body) for r in rows][-1] == "Released"
    perf = next(r for r in rows if r.kind == "performance")
    validate(safe_root(perf.body.encode()), Schema.V0701)
    lots = _texts(perf.body, "MaterialLotID")
    quantities = _texts(perf.body, "QuantityString")
    assert list(zip(lots, quantities, strict=True)) == [(order_run, "120"), ("L-API-7", "10"), ("L-API-8", "5.000")]
    assert _texts(perf.body, "OperationsRequestID") == ["4711000002"]
    assert "yield 100.0 %" in _texts(perf.body, "Description")[0]
    with services.session_factory() as session:
        batch = build_execution(services).batch(session, order_run)
        consumed = build_execution(services).materials.lots(session, material="API-1")
    assert batch.status == "released"
    assert sum((Decimal(10) - lot.quantity for lot in consumed), Decimal(0)) == Decimal("15.000")
    assert len({r.message_id for r in rows}) == len(rows)


@pytest.mark.requirement("URS-INT-004")
def test_the_folder_worker_delivers_in_order_once_each(erp: Wiring, services: Services, order_run: str) -> None:
    worker = erp.worker()
    first = worker.run_once()
    assert first.sent == len(outbox(services))
    assert worker.run_once().sent == 0  # nothing is sent twice
    files = sorted((erp.settings.channel("erp").folder / "out").glob("erp-*.xml"))
    ids = {r.message_id for r in outbox(services)}
    assert len(files) == len(ids)
    assert {next(iter(_texts(f.read_bytes(), "BODID"))) for f in files} == ids  # the file carries the message id
    assert all(r.status == "sent" and r.sent_at is not None for r in outbox(services))


class Flaky:
    """A transport that fails while ``down`` is set (the broker unreachable), else writes to a folder."""

    def __init__(self, folder: Path) -> None:
        self.inner = FolderTransport(folder)
        self.down = True
        self.sent: list[str] = []

    def send(self, message: Message) -> None:
        if self.down:
            raise DeliveryError("connection refused")
        self.inner.send(message)
        self.sent.append(message.message_id)

    def close(self) -> None:
        return None


@pytest.mark.requirement("URS-INT-004")
def test_failures_back_off_then_dead_letter_and_an_admin_retry_delivers(
    erp: Wiring, services: Services, tmp_path: Path
) -> None:
    with unit_of_work(services.session_factory) as session:
        for n in range(3):
            erp.outbox.enqueue(session, channel="erp", kind="order_status", body=f"<m{n}/>")
    settings = dataclasses.replace(erp.settings, max_attempts=2, backoff_seconds=0.001)
    flaky = Flaky(tmp_path)
    worker = DeliveryWorker(
        session_factory=services.session_factory, clock=services.clock, settings=settings, transports={"erp": flaky}
    )
    first = worker.run_once()
    assert (first.sent, first.failed, first.dead) == (0, 1, 0)  # the head failed; the others wait behind it
    time.sleep(0.01)
    second = worker.run_once()
    assert (second.sent, second.dead) == (0, 1)
    head = outbox(services)[0]
    assert (head.status, head.attempts, head.last_error) == ("dead", 2, "connection refused")
    flaky.down = False
    assert worker.run_once().sent == 2  # the dead letter no longer blocks its channel
    with unit_of_work(services.session_factory) as session:
        retry(
            session,
            audit=services.audit,
            clock=services.clock,
            actor="admin",
            message_id=head.message_id,
            reason="ERP back",
        )
    assert worker.run_once().sent == 1
    assert sorted(flaky.sent) == sorted(r.message_id for r in outbox(services))


@pytest.mark.requirement("URS-INT-004")
def test_no_message_is_written_when_the_change_fails(
    erp: Wiring, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_materials(services, "API-1")
    erp.receive(example("v0701-sync-operations-schedule.xml"), channel="erp:test")
    number = planned_batch(services, "4711000002")
    fail_audit_on(monkeypatch, services, "batch.started")
    ex = build_execution(services)
    with unit_of_work(services.session_factory) as session:
        ex.release_to_floor(session, actor="sam", ref=number)
    with pytest.raises(Exception, match="unavailable"), unit_of_work(services.session_factory) as session:
        ex.start_batch(session, actor="olga", ref=number)
    assert [r.kind for r in outbox(services)] == ["order_status"]  # Ready only; Running rolled back


@pytest.mark.requirement("URS-INT-004")
def test_a_sample_is_announced_to_the_lims(erp: Wiring, services: Services) -> None:
    lims = Channel(name="lims", transport="folder", folder=services.settings.data_dir / "lims")
    erp.outbox.settings = dataclasses.replace(erp.settings, channels={**erp.settings.channels, "lims": lims})
    add_materials(services, "API-1")
    erp.receive(example("v0701-sync-operations-schedule.xml").replace(b"4711000002", b"4711000003"), channel="erp:test")
    run_to_release(services, erp, planned_batch(services, "4711000003"), consume={})
    [sample] = [r for r in outbox(services) if r.channel == "lims"]
    assert sample.content_type == "application/json"
    assert '"sample_id":"S-1"' in sample.body
    assert '"tests":["assay"]' in sample.body
    assert '"order":"4711000003"' in sample.body
