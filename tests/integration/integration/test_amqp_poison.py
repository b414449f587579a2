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

import dataclasses
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pika.exceptions
import pytest
from flask import Flask
from sqlalchemy import func, select

from audit.models import AuditEvent
from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.core.errors import StateError
from ebr.execution.models import Batch
from ebr.integration import deadletters
from ebr.integration.b2mml import safe_root
from ebr.integration.models import InboundAttempt, InboundDeadLetter, InboundMessage, ProcessOrder
from ebr.integration.redelivery import CRASHED, DeadLetter
from ebr.integration.setup import Wiring
from ebr.ops.records import reconcile
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

    # While the bug is still there a replay fails, names why, and changes nothing.
    with pytest.raises(StateError, match=f"failed again \\(TypeError: {re.escape(BUG)}\\); it stays"):
        erp.replay(letter.id, actor="ada", reason="tried again")
    assert [d.id for d in dead_letters(services)] == [letter.id]

    # The bug fixed (a new process: the CLI's own wiring), the administrator replays it:
    # applied once, the letter gone, both audited, the records match the trail.
    code, out = cli(services, "erp", "deadletters")
    assert code == 0, out
    assert f"{letter.id}" in out
    assert "erp:amqp  POISON-0  after 3 attempts" in out
    code, out = cli(services, "erp", "deadletters", "replay", letter.id, "--reason", "fix 4711 deployed")
    assert code == 0, out
    assert "PO-B-0" in out
    assert f"dead letter {letter.id} replayed and removed" in out
    with services.session_factory() as session:
        assert "PO-B-0" in set(session.scalars(select(ProcessOrder.order_id)))
        kept = session.scalars(
            select(AuditEvent).where(AuditEvent.entity_type == "inbound_dead_letter").order_by(AuditEvent.seq)
        ).all()
        findings = [f for f in reconcile(session).findings if f.table.startswith("integration_")]
    assert [(e.action, e.actor, e.reason) for e in kept] == [
        ("integration.inbound.dead_lettered", "system:integration", None),
        ("integration.inbound.replayed", "admin", "fix 4711 deployed"),
    ]
    assert dead_letters(services) == []
    assert findings == []
    assert (count(services, Batch), applied(services)) == (5, 5)
    code, out = cli(services, "erp", "deadletters", "replay", letter.id, "--reason", "again")
    assert code == 2, out
    assert f"no inbound dead letter {letter.id!r}" in out


def _letter(services: Services, channel: str, body: bytes, message_id: str = "M-1") -> str:
    letter = DeadLetter(queue="q.in", message_id=message_id, body=body, headers={}, error="KeyError: 'x'", attempts=3)
    with unit_of_work(services.session_factory) as session:
        kept = deadletters.record(session, audit=services.audit, clock=services.clock, channel=channel, letter=letter)
        return kept.id


@pytest.mark.requirement("URS-INT-028")
def test_a_dead_letter_is_replayed_from_the_admin_page_and_what_cannot_be_replayed_is_refused_by_name(
    app: Flask, erp: Wiring, services: Services
) -> None:
    add_materials(services, "API-1")
    good = _letter(services, "erp:amqp", order(7), "GOOD-7")
    refused = _letter(services, "erp:amqp", b"<not-b2mml/>", "BAD-1")
    lims = _letter(services, "lims:amqp", b'{"sample_id": "S-1", "results": []}', "LIMS-1")
    cut = _letter(services, "erp:amqp", order(8) + b"<!--" + b"x" * deadletters.BODY_KEPT + b"-->", "BIG-1")
    client = admin_client(app, services)
    page = client.get("/admin/integration").get_data(as_text=True)
    assert f"/admin/integration/inbound/{good}/replay" in page
    assert f"/admin/integration/inbound/{lims}/replay" not in page  # no button for a LIMS letter

    answer = client.post(f"/admin/integration/inbound/{good}/replay", data={"reason": "material API-1 created"})
    assert answer.status_code == 302
    page = client.get("/admin/integration").get_data(as_text=True)
    assert "Message GOOD-7 was applied" in page
    assert "PO-B-7" in page
    with services.session_factory() as session:
        assert "PO-B-7" in set(session.scalars(select(ProcessOrder.order_id)))

    for letter, problem in (
        (refused, "was refused"),
        (lims, "LIMS results are not replayed from a copy"),
        (cut, "is not the whole message"),
    ):
        answer = client.post(f"/admin/integration/inbound/{letter}/replay", data={"reason": "try"})
        assert answer.status_code in (409, 422), (letter, answer.status_code)
        assert problem in answer.get_data(as_text=True)
    assert client.post(f"/admin/integration/inbound/{refused}/replay", data={"reason": " "}).status_code == 422
    assert sorted(d.id for d in dead_letters(services)) == sorted([refused, lims, cut])
    assert count(services, ProcessOrder) == 1


def _consumer_process(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """The worker's consumer in a process of its own (see dying_consumer.py), as a supervisor would restart it."""
    root = Path(__file__).resolve().parents[3]
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.integration.integration.dying_consumer", str(config)],
            cwd=root, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def _applying(marker: Path) -> int:
    """How many times a consumer process began to apply the killing message."""
    return len(marker.read_text().splitlines()) if marker.exists() else 0


def _dead_lettered(names: Names) -> bool:
    try:
        return waiting(names.dead) > 0
    except pika.exceptions.ChannelClosedByBroker:  # not declared yet (404)
        return False


@pytest.mark.requirement("URS-INT-028")
def test_a_message_that_kills_the_consumer_each_time_is_dead_lettered_by_a_restarted_one_not_redelivered_forever(
    erp: Wiring,
    services: Services,
    broker: Names,  # noqa: F811 - the fixture's name
    tmp_path: Path,
) -> None:
    """A message the consumer process does not survive (here: killed with SIGKILL in the middle of it, as
    the OOM killer would) leaves no error behind. Restarted each time, the consumer reads the attempts its
    predecessors wrote down before they died, and after the last one dead-letters the message instead of
    applying it again; the good order behind it is applied."""
    use_amqp(erp, broker)
    add_materials(services, "API-1")
    publish(broker, order(0), "KILLER-0")
    publish(broker, order(1), "GOOD-1")
    marker = tmp_path / "applying"
    config = tmp_path / "consumer.json"
    config.write_text(json.dumps({
        "database_url": services.settings.database_url, "data_dir": str(services.settings.data_dir),
        "names": dataclasses.asdict(broker), "hang_on": "PO-B-0", "marker": str(marker),
    }))  # fmt: skip
    limit = erp.settings.inbound_max_attempts
    kills = 0
    for _restart in range(limit + 3):  # bounded: a consumer that never gets past it fails the test
        process = _consumer_process(config, tmp_path / "consumer.log")
        try:
            # Watched through the marker and the broker only: on SQLite the hung consumer holds the write lock.
            until(lambda seen=kills: _applying(marker) > seen or _dead_lettered(broker), seconds=60)
            if _applying(marker) == kills:  # this one dead-lettered it: the good order behind it is applied
                until(lambda: count(services, ProcessOrder) == 1)
        finally:
            process.kill()  # SIGKILL: mid-message, or (the last one) after it dead-lettered the message
            process.wait(timeout=30)
        if _applying(marker) > kills:
            kills += 1
            assert count(services, ProcessOrder) == 0, "an order was committed by a consumer killed before"
            continue
        break
    # Its first delivery may have been one of a batch (not written down): one attempt more than the setting.
    assert kills == limit + 1, (tmp_path / "consumer.log").read_text()[-3000:]
    # The last consumer was killed once the good order was committed: its ack may not have reached the
    # broker and the order come back, a repeat the inbound log answers without applying it again.
    erp.consumer().run(idle_seconds=2)

    [letter] = dead_letters(services)
    assert (letter.message_id, letter.attempts, letter.error) == ("KILLER-0", limit, CRASHED)
    with services.session_factory() as session:
        assert set(session.scalars(select(ProcessOrder.order_id))) == {"PO-B-1"}
        assert "KILLER-0" not in set(session.scalars(select(InboundMessage.message_id)))
        assert session.scalar(select(func.count()).select_from(InboundAttempt)) == 0  # settled, forgotten
    [(props, body)] = drain(broker.dead)
    assert (props.message_id, body, props.headers["x-ebr-attempts"]) == ("KILLER-0", order(0), limit)
    assert props.headers["x-ebr-error"] == CRASHED
    answers = {p.correlation_id: body for p, body in drain(broker.replies)}
    assert set(answers) == {"KILLER-0", "GOOD-1"}
    assert f"could not be applied in {limit} attempts ({CRASHED})" in notes(answers["KILLER-0"])[0]
    assert waiting(broker.inbound) == 0
