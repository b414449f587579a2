"""Inbound orders taken from RabbitMQ several at a time: one transaction, one ack, the same guarantees.

A batch holds what is already waiting on the queue (never waits for more). Each
message is validated alone — a refused one gets its error answer, nothing of it is
stored, the others are applied — and the good ones are applied in order, with their
audit events, and committed together; only then are the answers published and the
deliveries acknowledged (``multiple=True``). A failure before the commit applies the
batch's messages again one a transaction: one that fails alone too goes back to the
queue (the database gone: uncounted; a bug on that message: dead-lettered after its last
attempt), the others are applied. A connection
lost after the commit redelivers the batch, and every message of it is recognised by
its id: nothing lost, nothing doubled.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from typing import Any

import pika
import pika.exceptions
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from audit.models import AuditEvent
from ebr.bootstrap import Services
from ebr.execution.models import Batch
from ebr.integration.b2mml import safe_root
from ebr.integration.consumer import Delivery
from ebr.integration.models import InboundMessage, ProcessOrder
from ebr.integration.setup import Wiring
from tests.integration.integration.conftest import add_materials, example
from tests.integration.integration.proxy import CuttableProxy
from tests.integration.integration.test_amqp import (  # noqa: F401
    BROKER,
    Names,
    broker,
    count,
    drain,
    publish,
    url,
    use_amqp,
)

V0701 = example("v0701-sync-operations-schedule.xml")


def order(n: int) -> bytes:
    """The V0701 example as order ``PO-B-n`` under its own BODID."""
    return V0701.replace(b"BOD-V0701-000001", f"BOD-B-{n}".encode()).replace(
        b"<ID>4711000002</ID>", f"<ID>PO-B-{n}</ID>".encode()
    )


def notes(answer: bytes) -> list[str]:
    return [str(n.text) for n in safe_root(answer).iter("{*}Note")]


def applied(services: Services) -> int:
    with services.session_factory() as session:
        query = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "erp.message.applied")
        return session.scalar(query) or 0


def waiting(queue: str) -> int:
    """How many messages wait in ``queue`` (none taken)."""
    connection = pika.BlockingConnection(pika.URLParameters(url()))
    try:
        return int(connection.channel().queue_declare(queue, passive=True).method.message_count)
    finally:
        connection.close()


@pytest.mark.requirement("URS-INT-024", "URS-INT-002", "URS-INT-003")
def test_a_batch_applies_the_good_refuses_the_bad_alone_and_answers_each_in_order(
    erp: Wiring,
    services: Services,
    broker: Names,  # noqa: F811 - the fixture's name
) -> None:
    use_amqp(erp, broker)
    add_materials(services, "API-1")
    assert b"<ID>4711000002</ID>" in V0701
    sent = [
        (order(1), "B-1"),
        (b"<not-xml", "B-BAD"),
        (order(2), "B-2"),
        (order(1), "B-1"),  # the same message again in the same batch
        (V0701.replace(b"<QuantityString>", b"<QuantityString>x"), "B-INVALID"),
        (order(3), "B-3"),
    ]
    for body, mid in sent:
        publish(broker, body, mid)
    consumer = erp.consumer(batch=50)
    batches: list[int] = []
    inner = consumer.batch_handler
    assert inner is not None

    def counting(deliveries: Sequence[Delivery]) -> list[tuple[bytes, bool]]:
        batches.append(len(deliveries))
        return inner(deliveries)

    consumer.batch_handler = counting
    assert consumer.run(max_messages=len(sent), idle_seconds=2) == len(sent)
    assert max(batches) > 1, f"every message came alone ({batches}): nothing was batched"
    replies = drain(broker.replies)
    assert [p.correlation_id for p, _ in replies] == [mid for _, mid in sent]
    answers = [safe_root(body).findtext("{*}DataArea/{*}BOD/{*}Description") for _, body in replies]
    assert answers == ["accepted", "error", "accepted", "accepted", "error", "accepted"]
    assert replies[3][1] == replies[0][1]  # the repeat gets the very same answer
    assert "not well-formed" in notes(replies[1][1])[0]
    assert (count(services, ProcessOrder), count(services, Batch), count(services, InboundMessage)) == (3, 3, 3)
    assert applied(services) == 3  # one erp.message.applied per applied message, none for the refused
    assert drain(broker.inbound) == []  # every delivery acknowledged


@pytest.mark.requirement("URS-INT-024")
def test_a_database_failure_returns_the_whole_batch_to_the_queue(
    erp: Wiring,
    services: Services,
    broker: Names,  # noqa: F811 - the fixture's name
) -> None:
    use_amqp(erp, broker)
    add_materials(services, "API-1")
    for n in range(4):
        publish(broker, order(n), f"DB-{n}")
    consumer = erp.consumer(batch=50)
    inner, alone = consumer.batch_handler, consumer.handler
    assert inner is not None
    tried: list[str | None] = []
    handed: list[str | None] = []

    def database_gone(deliveries: Sequence[Delivery]) -> list[tuple[bytes, bool]]:
        handed.extend(mid for _, mid, _ in deliveries)
        raise OperationalError("INSERT …", {}, ConnectionError("the database went away"))

    def still_gone(body: bytes, mid: str | None, headers: Any) -> tuple[bytes, bool]:
        tried.append(mid)
        raise OperationalError("INSERT …", {}, ConnectionError("the database went away"))

    consumer.batch_handler, consumer.handler = database_gone, still_gone
    rounds = 0
    while min(tried.count(f"DB-{n}") for n in range(4)) <= erp.settings.inbound_max_attempts:
        rounds += 1  # each message tried alone more often than a poison message is; a run ends at the failure
        assert rounds <= 40, f"the messages came back too seldom: {tried}"
        with pytest.raises(OperationalError):
            consumer.run(max_messages=4, idle_seconds=2)
    # Handed to the batch handler at most once each (as first deliveries, however the broker split them);
    # a failed batch's messages are tried alone, and back (redelivered) they are applied alone, uncounted.
    assert "DB-0" in handed
    assert len(handed) == len(set(handed))
    assert set(handed) <= {f"DB-{n}" for n in range(4)}
    assert (count(services, ProcessOrder), drain(broker.replies)) == (0, [])
    assert waiting(broker.dead) == 0  # the database gone is no message's fault: never dead-lettered
    consumer.batch_handler, consumer.handler = inner, alone
    assert consumer.run(max_messages=4, idle_seconds=5) == 4  # all four came back
    assert [p.correlation_id for p, _ in drain(broker.replies)] == [f"DB-{n}" for n in range(4)]
    assert (count(services, ProcessOrder), count(services, Batch)) == (4, 4)


@pytest.mark.requirement("URS-INT-025", "URS-INT-024", "URS-INT-028")
def test_a_poison_message_holds_up_only_itself_the_good_ones_of_its_batch_are_applied_and_acked(
    erp: Wiring,
    services: Services,
    broker: Names,  # noqa: F811 - the fixture's name
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_amqp(erp, broker)
    add_materials(services, "API-1")
    for n in range(1, 6):
        publish(broker, order(n), f"P-{n}")
    real_apply = erp.inbound._apply

    def poisoned(session: Any, doc: Any, order: Any, mid: str, work: Any) -> tuple[str, bool]:
        if order.order_id == "PO-B-3":
            raise TypeError("unsupported operand type(s) for +: 'Decimal' and 'NoneType'")  # a bug, not a refusal
        return real_apply(session, doc, order, mid, work)

    monkeypatch.setattr(erp.inbound, "_apply", poisoned)
    consumer = erp.consumer(batch=50)
    inner, alone = consumer.batch_handler, consumer.handler
    assert inner is not None
    batches: list[list[str | None]] = []
    tried_alone: list[str | None] = []

    def counting(deliveries: Sequence[Delivery]) -> list[tuple[bytes, bool]]:
        batches.append([mid for _, mid, _ in deliveries])
        return inner(deliveries)

    def counting_alone(body: bytes, mid: str | None, headers: Any) -> tuple[bytes, bool]:
        tried_alone.append(mid)
        return alone(body, mid, headers)

    consumer.batch_handler, consumer.handler = counting, counting_alone
    consumer.run(idle_seconds=2)  # the poison message does not stop the consumer
    assert any("P-3" in b and len(b) > 1 for b in batches), f"never batched with good ones: {batches}"
    assert tried_alone.count("P-3") == erp.settings.inbound_max_attempts == 3  # then given up on
    replies = drain(broker.replies)
    assert [p.correlation_id for p, _ in replies if p.correlation_id != "P-3"] == ["P-1", "P-2", "P-4", "P-5"]
    answers = {p.correlation_id: body for p, body in replies}
    assert all("planned" in notes(answers[mid])[0] for mid in ("P-1", "P-2", "P-4", "P-5"))
    assert "dead letter" in notes(answers["P-3"])[0]  # the ERP is told, not left waiting
    assert (count(services, ProcessOrder), count(services, Batch), applied(services)) == (4, 4, 4)
    assert (waiting(broker.inbound), waiting(broker.dead)) == (0, 1)  # the poison message is on the dead-letter queue

    # The bug fixed, the administrator moves the dead letter back to the queue: applied once.
    monkeypatch.setattr(erp.inbound, "_apply", real_apply)
    [(props, body)] = drain(broker.dead)
    assert props.message_id == "P-3"
    publish(broker, body, "P-3")
    assert consumer.run(max_messages=1, idle_seconds=2) == 1
    assert [p.correlation_id for p, _ in drain(broker.replies)] == ["P-3"]
    assert (count(services, ProcessOrder), count(services, Batch), applied(services)) == (5, 5, 5)
    assert waiting(broker.inbound) == 0


@pytest.mark.requirement("URS-INT-024", "URS-INT-003")
def test_a_connection_lost_after_the_batch_commit_redelivers_it_without_doubling(
    erp: Wiring,
    services: Services,
    broker: Names,  # noqa: F811 - the fixture's name
) -> None:
    add_materials(services, "API-1")
    with CuttableProxy(BROKER) as proxy:
        use_amqp(erp, broker, port=proxy.port)
        for n in range(5):
            publish(broker, order(n), f"CUT-{n}")
        consumer = erp.consumer(batch=50)
        inner = consumer.batch_handler
        assert inner is not None
        committed: list[int] = []

        def cut_after_commit(deliveries: Sequence[Delivery]) -> list[tuple[bytes, bool]]:
            answers = inner(deliveries)  # applied and committed
            committed.append(len(deliveries))
            proxy.cut()  # the connection dies before the answers and the ack
            return answers

        consumer.batch_handler = cut_after_commit
        with pytest.raises((pika.exceptions.AMQPError, OSError)):
            consumer.run(max_messages=5, idle_seconds=2)
        assert committed
        assert count(services, ProcessOrder) == committed[0]
        consumer.batch_handler = inner
        assert consumer.run(max_messages=5, idle_seconds=5) == 5  # redelivered, and the rest
    assert (count(services, ProcessOrder), count(services, Batch), applied(services)) == (5, 5, 5)
    replies = drain(broker.replies)
    assert sorted(p.correlation_id for p, _ in replies) == [f"CUT-{n}" for n in range(5)]
    assert all("planned" in notes(body)[0] for _, body in replies)


@pytest.mark.requirement("URS-INT-024", "URS-INT-003")
def test_a_batch_answers_published_but_not_yet_committed_with_the_broker_are_never_seen_and_nothing_is_acked(
    erp: Wiring,
    services: Services,
    broker: Names,  # noqa: F811 - the fixture's name
) -> None:
    add_materials(services, "API-1")
    with CuttableProxy(BROKER) as proxy:
        use_amqp(erp, broker, port=proxy.port)
        for n in range(5):
            publish(broker, order(n), f"TX-{n}")
        consumer = erp.consumer(batch=50)
        opened = consumer._answer_channel  # to cut the connection inside the answer step

        def cut_before_commit(connection: pika.BlockingConnection) -> Any:
            answers = opened(connection)
            commit = answers.tx_commit

            def cut_then_commit() -> Any:
                time.sleep(0.3)  # the answers have reached the broker, uncommitted
                proxy.cut()  # the connection dies before tx.commit: nothing was acked
                return commit()

            answers.tx_commit = cut_then_commit
            return answers

        consumer._answer_channel = cut_before_commit  # type: ignore[method-assign]
        with pytest.raises((pika.exceptions.AMQPError, OSError)):
            consumer.run(max_messages=5, idle_seconds=2)
        assert drain(broker.replies) == []  # the uncommitted answers were discarded
        assert erp.consumer(batch=50).run(max_messages=5, idle_seconds=5) == 5  # all redelivered
    assert (count(services, ProcessOrder), count(services, Batch), applied(services)) == (5, 5, 5)
    replies = drain(broker.replies)
    assert sorted(p.correlation_id for p, _ in replies) == [f"TX-{n}" for n in range(5)]  # once each
    assert all("planned" in notes(body)[0] for _, body in replies)


# -- a batch means the same as one message a transaction --------------------------------------

Step = tuple[str, int, int, int, bool]  # kind (send / repeat / bad), order, version, quantity, cancel


def _body(prefix: str, index: int, order_no: int, version: int, quantity: int, *, cancel: bool) -> bytes:
    data = V0701.replace(b"4711000002", f"{prefix}-{order_no}".encode())
    data = data.replace(b"BOD-V0701-000001", f"{prefix}-BOD-{index}".encode())
    data = data.replace(b"<Version>1</Version>", f"<Version>{version}</Version>".encode())
    data = data.replace(
        b"<QuantityString>120</QuantityString>", f"<QuantityString>{quantity}</QuantityString>".encode()
    )
    if cancel:
        data = data.replace(
            b"<Sync/>", b'<Sync><ActionCriteria><ActionExpression actionCode="Delete"/></ActionCriteria></Sync>'
        )
    return data


def _messages(prefix: str, steps: list[Step]) -> list[tuple[bytes, str | None]]:
    out: list[tuple[bytes, str | None]] = []
    for index, (kind, order_no, version, quantity, cancel) in enumerate(steps):
        if kind == "repeat" and out:
            out.append(out[order_no % len(out)])  # the same message (same id) again
        elif kind == "bad":
            out.append((_body(prefix, index, order_no, version, quantity, cancel=cancel)[:-40], None))
        else:
            out.append((_body(prefix, index, order_no, version, quantity, cancel=cancel), None))
    return out


def _shape(text: str, prefix: str) -> str:
    """An answer line without what differs between the two runs (the prefix, batch numbers)."""
    return re.sub(r"B\d{8}-\d{4}", "B#", text.replace(prefix, "P"))


@pytest.mark.requirement("URS-INT-024", "URS-INT-003")
def test_a_batch_gives_the_answers_and_orders_of_one_message_a_transaction(erp: Wiring, services: Services) -> None:
    add_materials(services, "API-1")
    step = st.tuples(
        st.sampled_from(["send", "send", "send", "repeat", "bad"]),
        st.integers(0, 1),
        st.integers(1, 3),
        st.sampled_from([60, 120, 400]),
        st.booleans(),
    )
    runs = iter(range(10_000))

    @settings(
        max_examples=int(os.environ.get("EBR_MACHINE_EXAMPLES", "8")),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(steps=st.lists(step, min_size=1, max_size=8))
    def same(steps: list[Step]) -> None:
        run = next(runs)
        batched, single = f"A{run}", f"S{run}"
        together = erp.receive_many(_messages(batched, steps), channel="erp:batch")
        alone = [erp.receive(data, channel="erp:single", message_id=mid) for data, mid in _messages(single, steps)]
        assert [(r.accepted, r.duplicate, [_shape(x, batched) for x in r.lines]) for r in together] == [
            (r.accepted, r.duplicate, [_shape(x, single) for x in r.lines]) for r in alone
        ]
        with services.session_factory() as session:
            rows = {
                prefix: sorted(
                    (
                        _shape(o.order_id, prefix),
                        o.status,
                        o.revision,
                        str(o.quantity),
                        o.hold_reason,
                        o.batch_id is None,
                    )
                    for o in session.scalars(select(ProcessOrder).where(ProcessOrder.order_id.like(f"{prefix}-%")))
                )
                for prefix in (batched, single)
            }
            live = {
                prefix: sorted(
                    (_shape(b.production_order, prefix), b.status)
                    for b in session.scalars(select(Batch).where(Batch.production_order.like(f"{prefix}-%")))
                )
                for prefix in (batched, single)
            }
        assert rows[batched] == rows[single]
        assert live[batched] == live[single]

    same()


@pytest.mark.requirement("URS-INT-024", "URS-INT-013")
def test_master_data_in_a_batch_is_applied_alone_in_delivery_order_and_a_refused_one_stores_nothing(
    erp: Wiring, services: Services
) -> None:
    from ebr.materials.models import Lot, Material
    from tests.integration.integration.master import lot_message, material_message

    add_materials(services, "API-1")
    items: list[tuple[bytes, str | None]] = [
        (order(1), None),
        (material_message("RM-NEW", bod="BOD-M-1"), None),
        (lot_message("L-NOBODY", material="RM-UNKNOWN", bod="BOD-L-1"), None),  # refused when applied
        (order(2), None),
    ]
    receipts = erp.receive_many(items, channel="erp:batch")
    assert [r.accepted for r in receipts] == [True, True, False, True]
    assert "RM-UNKNOWN" in " ".join(receipts[2].lines)
    with services.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Lot)) == 0
        assert session.scalars(select(Material.code).where(Material.code == "RM-NEW")).all() == ["RM-NEW"]
        mids = set(session.scalars(select(InboundMessage.message_id)))
    assert {"BOD-B-1", "BOD-M-1", "BOD-B-2"} <= mids
    assert "BOD-L-1" not in mids
    assert applied(services) == 3
