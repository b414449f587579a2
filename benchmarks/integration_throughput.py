"""ERP integration on PostgreSQL and the machine's RabbitMQ.

1. Inbound: V0701 process orders published to RabbitMQ, consumed, validated, applied
   (planned batch, audit events, inbound log), committed, answered and acknowledged —
   in batches of up to 50 a transaction and, for comparison, one a transaction —
   beside a bare pika loop of the same shape (consume, publish a confirmed answer,
   ack); also the direct call and 4 competing processes. Goal ≥ 200 orders/s.
2. Outbound: outbox rows delivered by the worker to RabbitMQ with publisher
   confirms and consumed from the ERP queue, beside a bare pika loop that publishes
   the same bodies with confirms and consumes them. Goal ≥ 0.5× bare.
3. Latency from the commit of a QA release to its performance document arriving in
   the ERP queue (worker running, consumer waiting). Goal p95 < 1 s.

    python -m benchmarks.integration_throughput [ORDERS] [MESSAGES] [RELEASES]
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import secrets
import sys
import tempfile
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pika

from benchmarks.databases import fresh_postgres
from benchmarks.execution_setup import PASSWORD, services_for
from benchmarks.table import Row, percentile, print_table
from ebr.bootstrap import Services, build_services
from ebr.core.config import load_settings
from ebr.core.db import unit_of_work
from ebr.core.errors import Conflict
from ebr.execution.service import build as build_execution
from ebr.integration.settings import Channel
from ebr.integration.setup import INBOUND_BATCH, Wiring, build
from ebr.materials.services import Credentials
from ebr.review import services as release
from recipes.model import BatchSize, EquipmentRequirement, Operation, Phase, PhaseType, Product, Recipe, UnitProcedure
from recipes.phases import Instruction

AMQP = "amqp://guest:guest@127.0.0.1:5672/%2F?heartbeat=0"
ORDER = """<?xml version="1.0" encoding="UTF-8"?>
<SyncOperationsSchedule xmlns="http://www.mesa.org/xml/B2MML" releaseID="V0701">
  <ApplicationArea><CreationDateTime>2026-12-05T07:31:00Z</CreationDateTime><BODID>{bod}</BODID></ApplicationArea>
  <DataArea><Sync/><OperationsSchedule><ID>S-{n}</ID><OperationsRequest><ID>{order}</ID><Version>1</Version>
    <SegmentRequirement><ID>0010</ID><ProcessSegmentID>MIX</ProcessSegmentID>
      <OperationsDefinitionID>BENCH</OperationsDefinitionID><OperationsSegmentID>MIX</OperationsSegmentID>
      <MaterialRequirement><ID>OUT</ID><MaterialDefinitionID>FG-BENCH</MaterialDefinitionID><MaterialUse>Produced</MaterialUse>
        <Quantity><QuantityString>100</QuantityString><UnitOfMeasure>kg</UnitOfMeasure></Quantity></MaterialRequirement>
    </SegmentRequirement></OperationsRequest></OperationsSchedule></DataArea>
</SyncOperationsSchedule>"""


def recipe() -> Recipe:
    phase = Phase("PH1", "Check", PhaseType.INSTRUCTION, Instruction("Check the vessel"), ())
    return Recipe(
        name="BENCH",
        title="Benchmark recipe",
        product=Product("FG-BENCH", "Benchmark product"),
        batch_size=BatchSize(Decimal(100), Decimal(1), Decimal(1000), "kg"),
        unit_procedures=(
            UnitProcedure("UP1", "Work", EquipmentRequirement("bench"), (Operation("OP1", "Op", (phase,)),)),
        ),
    )


def prepare(services: Services) -> Wiring:
    """People and the BENCH recipe approved and effective."""
    with unit_of_work(services.session_factory) as session:
        for user_id, roles in (
            ("anna", ["recipe_author"]),
            ("paul", ["recipe_approver"]),
            ("quinn", ["qa"]),
            ("queenie", ["qa"]),
        ):
            services.users.create(
                session,
                actor="admin",
                user_id=user_id,
                full_name=user_id,
                roles=roles,
                password=PASSWORD,
                must_change=False,
            )
            services.users.accept_accountability(session, user_id=user_id)
    import yaml

    with unit_of_work(services.session_factory) as session:
        [row] = services.recipes.import_text(
            session, actor="anna", data=yaml.safe_dump(recipe().to_dict()), source="bench"
        )
    with unit_of_work(services.session_factory) as session:
        services.recipes.submit_for_review(session, ref=row.label, user_id="anna", password=PASSWORD)
    with unit_of_work(services.session_factory) as session:
        services.recipes.approve(session, ref=row.label, user_id="paul", password=PASSWORD)
    return build(services)


def inbound(wiring: Wiring, count: int) -> float:
    bodies = [ORDER.format(bod=uuid.uuid4(), n=n, order=f"PO-{n:06d}").encode() for n in range(count)]
    wiring.receive(bodies[0], channel="erp:bench")  # compiles the schema once, as a running worker has
    start = time.perf_counter()
    for body in bodies[1:]:
        receipt = wiring.receive(body, channel="erp:bench")
        assert receipt.accepted, receipt.lines
    return (count - 1) / (time.perf_counter() - start)


def _publish(queue: str, bodies: list[bytes], reply_to: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(AMQP))
    channel = connection.channel()
    channel.confirm_delivery()
    for body in bodies:
        props = pika.BasicProperties(message_id=str(uuid.uuid4()), delivery_mode=2, reply_to=reply_to)
        channel.basic_publish("", queue, body, properties=props, mandatory=True)
    connection.close()


def _declare(*queues: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(AMQP))
    channel = connection.channel()
    for queue in queues:
        channel.queue_declare(queue, durable=True)
    connection.close()


def inbound_amqp(wiring: Wiring, count: int, prefix: str, batch: int, tag: str) -> float:
    """Orders published to the inbound queue, then consumed: validated, applied, committed, answered, acked."""
    queue, replies = wiring.settings.channel("erp").inbound_queue, f"{prefix}.replies"
    _declare(queue, replies)
    bodies = [ORDER.format(bod=uuid.uuid4(), n=n, order=f"{tag}-{n:06d}").encode() for n in range(count)]
    _publish(queue, bodies, replies)
    consumer = wiring.consumer(batch=batch)
    start = time.perf_counter()
    handled = consumer.run(max_messages=count, idle_seconds=10)
    elapsed = time.perf_counter() - start
    assert handled == count, f"consumed {handled} of {count}"
    consume(replies, count)
    return count / elapsed


def bare_inbound(count: int, prefix: str) -> float:
    """The bare pika loop of the same shape: consume, publish a confirmed answer, ack."""
    queue, replies = f"{prefix}.bare-in", f"{prefix}.bare-replies"
    _declare(queue, replies)
    body = ORDER.format(bod=uuid.uuid4(), n=0, order="BARE").encode()
    _publish(queue, [body] * count, replies)
    connection = pika.BlockingConnection(pika.URLParameters(AMQP))
    channel = connection.channel()
    channel.confirm_delivery()
    channel.basic_qos(prefetch_count=50)
    start = time.perf_counter()
    for got, (method, props, data) in enumerate(channel.consume(queue, inactivity_timeout=10), start=1):
        assert method is not None, "the bare loop waited 10 s for a message"
        answer = pika.BasicProperties(correlation_id=props.message_id, delivery_mode=2)
        channel.basic_publish("", props.reply_to, data[:200], properties=answer)
        channel.basic_ack(method.delivery_tag)
        if got >= count:
            break
    elapsed = time.perf_counter() - start
    channel.cancel()
    connection.close()
    consume(replies, count)
    return count / elapsed


def _inbound_worker(url: str, data_dir: str, bodies: list[bytes], start: Any, out: Any) -> None:
    settings = load_settings({"EBR_DATA_DIR": data_dir}, database_url=url, secret_key="bench", testing=True)
    services = build_services(settings)
    wiring = build(services)
    wiring.receive(bodies[0], channel="erp:bench")  # schema compiled, connection open
    start.wait()
    began = time.perf_counter()
    applied, lost = 0, ""
    try:
        for body in bodies[1:]:
            try:
                receipt = wiring.receive(body, channel="erp:bench")
            except Conflict as exc:  # races lost RETRIES times (the batch number): counted, the run goes on
                lost = lost or repr(exc)
                continue
            if not receipt.accepted:
                raise RuntimeError("; ".join(receipt.lines))
            applied += 1
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the run
        out.put(repr(exc))
        return
    finally:
        services.close()
    out.put((began, time.perf_counter(), applied, lost))


def inbound_parallel(url: str, data_dir: Path, count: int, processes: int) -> tuple[float, int, str]:
    """Competing consumers: ``processes`` appliers (e.g. several `ebr erp worker`s on one queue).

    Returns the rate of applied orders, how many gave up on lost races, and the first such error.
    """
    context = multiprocessing.get_context("spawn")
    start, out = context.Barrier(processes + 1), context.Queue()
    share = count // processes
    workers = []
    for p in range(processes):
        bodies = [ORDER.format(bod=uuid.uuid4(), n=n, order=f"PAR-{p}-{n:06d}").encode() for n in range(share + 1)]
        workers.append(context.Process(target=_inbound_worker, args=(url, str(data_dir), bodies, start, out)))
    for worker in workers:
        worker.start()
    start.wait()
    results = [out.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join()
    failed = [r for r in results if isinstance(r, str)]
    if failed:
        raise RuntimeError(f"a consumer failed: {failed[0]}")
    began, ended = min(r[0] for r in results), max(r[1] for r in results)
    applied = sum(r[2] for r in results)
    return applied / (ended - began), processes * share - applied, next((r[3] for r in results if r[3]), "")


def amqp_channel(wiring: Wiring, prefix: str) -> Channel:
    return Channel(name="erp", transport="amqp", amqp_url=AMQP, exchange=f"{prefix}.x", inbound_queue=f"{prefix}.in",
                   outbound_queue=f"{prefix}.out")  # fmt: skip


def consume(queue: str, count: int, timeout: float = 60.0) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(AMQP))
    channel = connection.channel()
    got = 0
    for method, _props, _body in channel.consume(queue, inactivity_timeout=timeout):
        if method is None:
            break
        channel.basic_ack(method.delivery_tag)
        got += 1
        if got >= count:
            break
    channel.cancel()
    connection.close()
    assert got == count, f"consumed {got} of {count}"


def bare(body: bytes, count: int, prefix: str) -> float:
    connection = pika.BlockingConnection(pika.URLParameters(AMQP))
    channel = connection.channel()
    channel.confirm_delivery()
    channel.exchange_declare(f"{prefix}.bare", exchange_type="topic", durable=True)
    channel.queue_declare(f"{prefix}.bare", durable=True)
    channel.queue_bind(f"{prefix}.bare", f"{prefix}.bare", routing_key="erp.#")
    start = time.perf_counter()
    for n in range(count):
        props = pika.BasicProperties(message_id=str(n), delivery_mode=2, content_type="application/xml")
        channel.basic_publish(f"{prefix}.bare", "erp.order_status", body, properties=props, mandatory=True)
    connection.close()
    consume(f"{prefix}.bare", count)
    return count / (time.perf_counter() - start)


def outbound(wiring: Wiring, body: str, count: int, prefix: str) -> float:
    with unit_of_work(wiring.services.session_factory) as session:
        for _ in range(count):
            wiring.outbox.enqueue(session, channel="erp", kind="order_status", body=body)
    worker = wiring.worker()
    start = time.perf_counter()
    while worker.run_once().sent:
        pass
    worker.close()
    consume(f"{prefix}.out", count)
    return count / (time.perf_counter() - start)


def released_latency(wiring: Wiring, count: int, prefix: str) -> list[float]:
    services = wiring.services
    ex = build_execution(services)
    numbers = []
    for n in range(count):
        wiring.receive(ORDER.format(bod=uuid.uuid4(), n=n, order=f"REL-{n:04d}").encode(), channel="erp:bench")
    with services.session_factory() as session:
        from sqlalchemy import select

        from ebr.integration.models import ProcessOrder

        numbers = [
            str(b)
            for b in session.scalars(select(ProcessOrder.batch_number).where(ProcessOrder.order_id.like("REL-%")))
        ]
    for number in numbers:
        for call in (ex.release_to_floor, ex.start_batch):
            with unit_of_work(services.session_factory) as session:
                call(session, actor="sam" if call == ex.release_to_floor else "olga", ref=number)
        with unit_of_work(services.session_factory) as session:
            ex.start_step(session, actor="olga", ref=number, path="UP1.OP1.PH1")
        with unit_of_work(services.session_factory) as session:
            ex.complete_step(session, actor="olga", ref=number, path="UP1.OP1.PH1")
        with unit_of_work(services.session_factory) as session:
            release.decide(session, ex.ctx, actor="quinn", ref=number, decision="reviewed",
                           signature=Credentials("quinn", PASSWORD, "reviewed"))  # fmt: skip
    worker = wiring.worker()
    while worker.run_once().sent:
        pass
    arrived: dict[str, float] = {}
    connection = pika.BlockingConnection(pika.URLParameters(AMQP))
    channel = connection.channel()
    channel.queue_purge(f"{prefix}.out")  # the status messages so far are not measured
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), kwargs={"interval": 0.02})
    thread.start()
    latencies = []
    try:
        for number in numbers:
            with unit_of_work(services.session_factory) as session:
                release.decide(session, ex.ctx, actor="queenie", ref=number, decision="released",
                               signature=Credentials("queenie", PASSWORD, "released"))  # fmt: skip
            committed = time.perf_counter()
            for method, props, _body in channel.consume(f"{prefix}.out", inactivity_timeout=10):
                assert method is not None, "the performance document did not arrive within 10 s"
                channel.basic_ack(method.delivery_tag)
                if props.type == "performance":
                    arrived[number] = time.perf_counter()
                    break
            latencies.append(arrived[number] - committed)
        channel.cancel()
    finally:
        stop.set()
        thread.join()
        worker.close()
        connection.close()
    return latencies


def cleanup(prefix: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(AMQP))
    channel = connection.channel()
    for queue in (f"{prefix}.out", f"{prefix}.bare", f"{prefix}.in", f"{prefix}.in.dead", f"{prefix}.replies",
                  f"{prefix}.bare-in", f"{prefix}.bare-replies"):  # fmt: skip
        channel.queue_delete(queue)
    for exchange in (f"{prefix}.x", f"{prefix}.bare"):
        channel.exchange_delete(exchange)
    connection.close()


def main() -> None:
    orders = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    messages = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    releases = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    prefix = f"ebr-bench-{secrets.token_hex(4)}"
    with fresh_postgres() as url, tempfile.TemporaryDirectory() as tmp:
        services = services_for(url, Path(tmp))
        try:
            wiring = prepare(services)
            wiring.outbox.settings = dataclasses.replace(
                wiring.settings, channels={"erp": amqp_channel(wiring, prefix)}
            )
            per_second = inbound(wiring, orders)
            one_each = inbound_amqp(wiring, orders, prefix, 1, "AMQP1")
            batched = inbound_amqp(wiring, orders, prefix, INBOUND_BATCH, "AMQPB")
            bare_in = bare_inbound(orders, prefix)
            parallel, gave_up, why = inbound_parallel(url, Path(tmp), orders, 4)
            body = (
                Path(__file__).resolve().parents[1] / "tests" / "data" / "b2mml" / "v0701-sync-operations-schedule.xml"
            ).read_text()
            ours = outbound(wiring, body, messages, prefix)
            baseline = bare(body.encode(), messages, prefix)
            latencies = released_latency(wiring, releases, prefix)
        finally:
            services.close()
            cleanup(prefix)
    print_table(
        f"ERP integration (PostgreSQL, RabbitMQ; {orders} orders, {messages} messages, {releases} releases)",
        [
            Row("inbound orders, RabbitMQ, batches of 50", batched, 200.0, "/s", "≥ 200/s"),
            Row("  same, one message a transaction", one_each, 200.0, "/s", "(before)"),
            Row("  same vs bare pika (consume, answer, ack)", batched, bare_in, "/s", ""),
            Row("inbound, direct call, one a transaction", per_second, 200.0, "/s", "≥ 200/s"),
            Row("inbound, 4 competing processes (direct)", parallel, 200.0, "/s", "≥ 200/s"),
            Row("outbound via outbox + worker vs bare pika", ours, baseline, "/s", "≥ 0.5×"),
            Row("QA release → ERP queue, p50", percentile(latencies, 50) * 1000, 1000.0, "ms", ""),
            Row("QA release → ERP queue, p95", percentile(latencies, 95) * 1000, 1000.0, "ms", "< 1000 ms"),
        ],
        baseline_name="goal / bare",
    )
    if gave_up:
        print(f"\n4 competing processes: {gave_up} of {orders} orders not applied after the retries: {why}")


if __name__ == "__main__":
    main()
