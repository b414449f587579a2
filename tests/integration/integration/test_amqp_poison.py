"""Against the real RabbitMQ: a poison message is dead-lettered and the consumer goes on with the rest.

A poison message fails every time it is applied, even alone (here: a bug on one
order). The consumer that runs in the worker (``run_until`` in a thread) returns it to
the queue and tries it again up to ``EBR_INBOUND_MAX_ATTEMPTS`` times, then
dead-letters it: the message goes to the channel's dead-letter queue with its error,
the administrator sees it (``ebr erp status``, ``/admin/integration``) with that error,
the ERP gets an error answer, and nothing of it was applied. The good orders behind it
are applied, and the consumer is still alive for the next ones.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from audit.models import AuditEvent
from ebr.bootstrap import Services
from ebr.execution.models import Batch
from ebr.integration.b2mml import safe_root
from ebr.integration.models import InboundDeadLetter, InboundMessage, ProcessOrder
from ebr.integration.setup import Wiring
from tests.integration.integration.conftest import add_materials, admin_client
from tests.integration.integration.test_adapters import cli
from tests.integration.integration.test_amqp import (  # noqa: F401
    Names,
    broker,
    count,
    drain,
    publish,
    use_amqp,
)
from tests.integration.integration.test_amqp_batch import applied, notes, order, waiting

BUG = "unsupported operand type(s) for +: 'Decimal' and 'NoneType'"


def poison(erp: Wiring, monkeypatch: pytest.MonkeyPatch, order_id: str) -> None:
    """A bug that hits order ``order_id`` every time it is applied (not a refusal: an exception)."""
    real_apply = erp.inbound._apply

    def poisoned(session: Any, doc: Any, order: Any, mid: str, work: Any) -> tuple[str, bool]:
        if order.order_id == order_id:
            raise TypeError(BUG)
        return real_apply(session, doc, order, mid, work)

    monkeypatch.setattr(erp.inbound, "_apply", poisoned)


def until(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def dead_letters(services: Services) -> list[InboundDeadLetter]:
    with services.session_factory() as session:
        return list(session.scalars(select(InboundDeadLetter)))


@pytest.mark.requirement("URS-INT-028")
def test_a_poison_message_is_dead_lettered_and_the_consumer_goes_on_with_the_orders_behind_it(
    app: Flask,
    erp: Wiring,
    services: Services,
    broker: Names,  # noqa: F811 - the fixture's name
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_amqp(erp, broker)
    add_materials(services, "API-1")
    poison(erp, monkeypatch, "PO-B-0")
    publish(broker, order(0), "POISON-0")  # at the head of the queue
    for n in range(1, 4):
        publish(broker, order(n), f"GOOD-{n}")
    stop = threading.Event()
    thread = threading.Thread(target=erp.consumer().run_until, args=(stop,), kwargs={"retry_seconds": 0.1})
    thread.start()
    try:
        until(lambda: count(services, ProcessOrder) == 3 and len(dead_letters(services)) == 1)
        assert thread.is_alive()  # not stopped by the poison message
        publish(broker, order(4), "GOOD-4")  # and still consuming
        until(lambda: count(services, ProcessOrder) == 4)
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()

    # Nothing of the poison message was applied; the good ones were, each once.
    with services.session_factory() as session:
        orders = set(session.scalars(select(ProcessOrder.order_id)))
        logged = set(session.scalars(select(InboundMessage.message_id)))
        audit_mentions = session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.entity_id.like("%PO-B-0%"))
        )
    assert orders == {"PO-B-1", "PO-B-2", "PO-B-3", "PO-B-4"}
    assert "POISON-0" not in logged
    assert "BOD-B-0" not in logged
    assert audit_mentions == 0
    assert (count(services, Batch), applied(services)) == (4, 4)

    # On the dead-letter queue, with its error and attempts; off the inbound queue.
    assert waiting(broker.inbound) == 0
    [(props, body)] = drain(broker.dead)
    assert (props.message_id, body) == ("POISON-0", order(0))
    assert props.headers["x-ebr-attempts"] == erp.settings.inbound_max_attempts == 3
    assert props.headers["x-ebr-queue"] == broker.inbound
    assert BUG in props.headers["x-ebr-error"]

    # Kept for the administrator with its error.
    [letter] = dead_letters(services)
    assert (letter.channel, letter.message_id, letter.attempts, letter.queue) == (
        "erp:amqp", "POISON-0", 3, broker.inbound
    )  # fmt: skip
    assert letter.error == f"TypeError: {BUG}"
    assert "PO-B-0" in letter.body

    # The ERP got an error answer for it, and the usual answers for the others.
    answers = {p.correlation_id: body for p, body in drain(broker.replies)}
    assert set(answers) == {"POISON-0", "GOOD-1", "GOOD-2", "GOOD-3", "GOOD-4"}
    assert safe_root(answers["POISON-0"]).findtext("{*}DataArea/{*}BOD/{*}Description") == "error"
    assert "3 attempts" in notes(answers["POISON-0"])[0]
    assert BUG in notes(answers["POISON-0"])[0]

    # `ebr erp status` and the admin page show it with its error.
    code, out = cli(services, "erp", "status")
    assert code == 0, out
    assert "1 dead-lettered in" in out
    assert f"erp:amqp POISON-0 (queue {broker.inbound}, 3 attempts): TypeError: {BUG}" in out
    client = admin_client(app, services)
    page = client.get("/admin/integration").get_data(as_text=True)
    assert "Inbound messages dead-lettered" in page
    assert "POISON-0" in page
    assert "TypeError: unsupported operand type(s) for +: &#39;Decimal&#39; and &#39;NoneType&#39;" in page
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'ebr_integration_inbound_dead_letters{channel="erp"} 1.0' in metrics
