"""Against the real RabbitMQ: order in → planned batch → executed → released → performance out, exactly once.

Each test declares its own uniquely named exchange and queues and deletes them. The
broker is never stopped (others use it): a lost connection is made by cutting the
TCP connections of a proxy in front of it.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pika
import pika.exceptions
import pytest
from sqlalchemy import func, select

from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.execution.models import Batch
from ebr.integration.b2mml import safe_root
from ebr.integration.models import OutboxMessage, ProcessOrder
from ebr.integration.settings import Channel
from ebr.integration.setup import Wiring
from ebr.materials.models import Lot, MaterialConsumption
from tests.integration.integration.conftest import add_materials, example
from tests.integration.integration.flow import planned_batch, receive_lot, run_to_release
from tests.integration.integration.proxy import CuttableProxy
from tests.support.components import missing

BROKER = ("127.0.0.1", 5672)


def url(port: int = BROKER[1]) -> str:
    return f"amqp://guest:guest@127.0.0.1:{port}/%2F?heartbeat=0"


@dataclass
class Names:
    exchange: str
    inbound: str
    outbound: str
    replies: str

    @property
    def dead(self) -> str:
        """The inbound queue's dead-letter queue (the consumer declares it)."""
        return f"{self.inbound}.dead"


@pytest.fixture
def broker() -> Iterator[Names]:
    """Unique exchange and queues on the machine's RabbitMQ, deleted afterwards."""
    try:
        connection = pika.BlockingConnection(pika.URLParameters(url()))
    except pika.exceptions.AMQPError as exc:
        missing("RabbitMQ on 127.0.0.1:5672", f"start it with `rabbitmq-server -detached` ({exc!r})")
        raise AssertionError("unreachable") from exc
    prefix = f"ebr-test-{uuid.uuid4().hex[:10]}"
    names = Names(f"{prefix}.x", f"{prefix}.in", f"{prefix}.out", f"{prefix}.replies")
    channel = connection.channel()
    for queue in (names.inbound, names.replies):
        channel.queue_declare(queue, durable=True)
    connection.close()
    yield names
    connection = pika.BlockingConnection(pika.URLParameters(url()))
    channel = connection.channel()
    for queue in (names.inbound, names.outbound, names.replies, names.dead):
        channel.queue_delete(queue)
    channel.exchange_delete(names.exchange)
    connection.close()


def use_amqp(erp: Wiring, names: Names, port: int = BROKER[1], **overrides: Any) -> None:
    channel = Channel(
        name="erp", transport="amqp", amqp_url=url(port), exchange=names.exchange,
        inbound_queue=names.inbound, outbound_queue=names.outbound,
    )  # fmt: skip
    erp.outbox.settings = dataclasses.replace(erp.settings, channels={"erp": channel}, **overrides)


def publish(names: Names, body: bytes, message_id: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url()))
    channel = connection.channel()
    channel.confirm_delivery()
    properties = pika.BasicProperties(message_id=message_id, reply_to=names.replies, delivery_mode=2)
    channel.basic_publish("", names.inbound, body, properties=properties)
    connection.close()


def drain(queue: str) -> list[tuple[pika.BasicProperties, bytes]]:
    """Every message waiting in ``queue`` (acknowledged, so the queue is empty afterwards)."""
    connection = pika.BlockingConnection(pika.URLParameters(url()))
    channel = connection.channel()
    found = []
    while True:
        method, props, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            break
        found.append((props, body))
    connection.close()
    return found


def outbox_ids(services: Services) -> list[str]:
    with services.session_factory() as session:
        return list(session.scalars(select(OutboxMessage.message_id).order_by(OutboxMessage.created_at)))


@pytest.mark.requirement("URS-INT-001", "URS-INT-004")
def test_an_order_over_rabbitmq_becomes_a_batch_whose_performance_comes_back(
    erp: Wiring, services: Services, broker: Names
) -> None:
    use_amqp(erp, broker)
    add_materials(services, "API-1", "EXC-1")
    receive_lot(services, "API-1", "L-1", "20")
    receive_lot(services, "EXC-1", "L-2", "100")
    publish(broker, example("v0401-sync-production-schedule.xml"), "ERP-MSG-1")
    assert erp.consumer().run(max_messages=1, idle_seconds=2) == 1
    [(props, ack)] = drain(broker.replies)
    assert props.correlation_id == "ERP-MSG-1"
    assert safe_root(ack).findtext("{*}DataArea/{*}BOD/{*}Description") == "accepted"
    number = planned_batch(services, "4711000001")
    run_to_release(services, erp, number, consume={"C-L-1-1": "12.500", "C-L-2-1": "87.5"})
    worker = erp.worker()
    try:
        assert worker.run_once().sent == len(outbox_ids(services))
    finally:
        worker.close()
    received = drain(broker.outbound)
    assert [p.message_id for p, _ in received] == outbox_ids(services)
    [(perf_props, perf)] = [(p, b) for p, b in received if p.type == "performance"]
    assert perf_props.content_type == "application/xml"
    root = safe_root(perf)
    actual = {
        (m.findtext("{*}MaterialLotID"), m.findtext("{*}Quantity/{*}QuantityString"))
        for m in root.iter("{*}MaterialConsumedActual")
    }
    with services.session_factory() as session:
        recorded = {
            (lot, f"{quantity}")
            for lot, quantity in session.execute(
                select(Lot.lot_number, MaterialConsumption.quantity).join(Lot, Lot.id == MaterialConsumption.lot_id)
            )
        }
    assert actual == recorded == {("L-1", "12.500"), ("L-2", "87.5")}
    assert [m.findtext("{*}MaterialLotID") for m in root.iter("{*}MaterialProducedActual")] == [number]


def count(services: Services, model: Any) -> int:
    with services.session_factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.mark.requirement("URS-INT-003")
def test_duplicates_and_late_versions_over_rabbitmq_change_nothing(
    erp: Wiring, services: Services, broker: Names
) -> None:
    use_amqp(erp, broker)
    add_materials(services, "API-1")
    v1 = example("v0701-sync-operations-schedule.xml")
    v2 = v1.replace(b"<Version>1</Version>", b"<Version>2</Version>").replace(b"BOD-V0701-000001", b"BOD-2")
    for body, mid in ((v2, "M-2"), (v2, "M-2"), (v1, "M-1")):
        publish(broker, body, mid)
    assert erp.consumer().run(max_messages=3, idle_seconds=2) == 3
    replies = drain(broker.replies)
    assert [p.correlation_id for p, _ in replies] == ["M-2", "M-2", "M-1"]
    assert replies[0][1] == replies[1][1]  # the repeat gets the very same answer
    assert "ignored, version 1 is older" in str(safe_root(replies[2][1]).findtext(".//{*}Note"))
    assert (count(services, ProcessOrder), count(services, Batch)) == (1, 1)


@pytest.mark.requirement("URS-INT-003")
def test_a_connection_lost_after_apply_and_before_ack_redelivers_without_doubling(
    erp: Wiring, services: Services, broker: Names
) -> None:
    add_materials(services, "API-1")
    with CuttableProxy(BROKER) as proxy:
        use_amqp(erp, broker, port=proxy.port)
        publish(broker, example("v0701-sync-operations-schedule.xml"), "ONCE-1")
        consumer = erp.consumer(batch=1)  # one message a transaction (batches: test_amqp_batch.py)
        consumer.batch_handler = None
        inner = consumer.handler

        def cut_after_apply(body: bytes, mid: str | None, headers: Mapping[str, Any]) -> tuple[bytes, bool]:
            answer = inner(body, mid, headers)  # committed
            proxy.cut()  # the connection dies before the answer and the ack
            return answer

        consumer.handler = cut_after_apply
        with pytest.raises((pika.exceptions.AMQPError, OSError)):
            consumer.run(max_messages=1, idle_seconds=2)
        consumer.handler = inner
        assert consumer.run(max_messages=1, idle_seconds=5) == 1  # redelivered
    assert (count(services, ProcessOrder), count(services, Batch)) == (1, 1)
    [(props, ack)] = drain(broker.replies)
    assert props.correlation_id == "ONCE-1"
    assert "planned" in str(safe_root(ack).findtext(".//{*}Note"))


@pytest.mark.requirement("URS-INT-004")
def test_connections_killed_mid_delivery_lose_nothing_and_double_nothing(
    erp: Wiring, services: Services, broker: Names
) -> None:
    with unit_of_work(services.session_factory) as session:
        for n in range(400):
            erp.outbox.enqueue(session, channel="erp", kind="order_status", body=f"<status n='{n}'/>")
    with CuttableProxy(BROKER) as proxy:
        use_amqp(erp, broker, port=proxy.port, backoff_seconds=0.01, max_attempts=1000)
        worker = erp.worker()
        stop = threading.Event()
        thread = threading.Thread(target=worker.run, args=(stop,), kwargs={"interval": 0.01})
        thread.start()
        try:
            for _ in range(3):
                time.sleep(0.15)
                proxy.cut()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with services.session_factory() as session:
                    pending = session.scalar(
                        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status != "sent")
                    )
                if not pending:
                    break
                time.sleep(0.05)
        finally:
            stop.set()
            thread.join(timeout=10)
            worker.close()
    received = [p.message_id for p, _ in drain(broker.outbound)]
    expected = outbox_ids(services)
    assert set(received) == set(expected)  # nothing lost, nothing foreign
    repeats = len(received) - len(set(received))
    assert repeats <= proxy.cuts  # at most the one in flight per cut, and under its own id
    first_seen = list(dict.fromkeys(received))
    assert first_seen == expected  # in the order they were written
    with services.session_factory() as session:
        retried = session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.attempts > 1))
    assert retried, "no delivery was interrupted: the cuts came too late to test anything"


@pytest.mark.requirement("URS-INT-003")
def test_the_worker_s_consumer_reconnects_after_the_broker_connection_is_lost(
    erp: Wiring, services: Services, broker: Names, caplog: pytest.LogCaptureFixture
) -> None:
    add_materials(services, "API-1")
    with CuttableProxy(BROKER) as proxy:
        use_amqp(erp, broker, port=proxy.port)
        stop = threading.Event()
        thread = threading.Thread(target=erp.consumer().run_until, args=(stop,), kwargs={"retry_seconds": 0.1})
        thread.start()
        try:
            time.sleep(0.5)
            proxy.cut()
            publish(broker, example("v0701-sync-operations-schedule.xml"), "AFTER-CUT")
            deadline = time.monotonic() + 20
            while count(services, ProcessOrder) == 0 and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            stop.set()
            thread.join(timeout=10)
    assert "lost its connection; reconnecting" in caplog.text  # the cut hit a live consumer
    assert count(services, ProcessOrder) == 1
    assert [p.correlation_id for p, _ in drain(broker.replies)] == ["AFTER-CUT"]
