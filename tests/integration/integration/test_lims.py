"""QC results from the LIMS over the watched folder and the real RabbitMQ, into the sample-results service.

A sample step that waits for QC (issue 18) completes once the LIMS's results are in;
an out-of-specification result opens a deviation and holds the step; a message seen
again changes nothing; a malformed or partly wrong message is refused naming the
field, and nothing of it is stored.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from pathlib import Path
from typing import Any

import pika
import pytest
from sqlalchemy import func, select

from audit.models import AuditEvent
from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.execution.models import Deviation, SampleResult
from ebr.integration import tokens
from ebr.integration.lims import FORMAT
from ebr.integration.models import InboundDeadLetter, InboundMessage
from ebr.integration.settings import Channel
from ebr.integration.setup import Wiring, build
from tests.integration.execution.conftest import Floor, floor, sig  # noqa: F401 - the fixture
from tests.integration.execution.test_samples import PH, sampled
from tests.integration.integration.test_amqp import Names, broker, drain, url  # noqa: F401 - the fixture


def message(sample: str, *results: tuple[str, Any], message_id: str | None = None) -> bytes:
    body: dict[str, Any] = {
        "format": FORMAT,
        "sample_id": sample,
        "results": [{"test": test, "value": value, "analyst": "lab.jdoe"} for test, value in results],
    }
    if message_id is not None:
        body["message_id"] = message_id
    return json.dumps(body).encode()


def lims_token(services: Services, name: str = "LIMS-1", scope: str = tokens.LIMS) -> str:
    with unit_of_work(services.session_factory) as session:
        return tokens.create(session, audit=services.audit, clock=services.clock, actor="admin", name=name, scope=scope)


def use_lims(wiring: Wiring, channel: Channel) -> None:
    wiring.outbox.settings = dataclasses.replace(wiring.settings, channels={"lims": channel})


def stored(services: Services) -> dict[str, int]:
    with services.session_factory() as session:
        return {
            "results": session.scalar(select(func.count()).select_from(SampleResult)) or 0,
            "inbound": session.scalar(select(func.count()).select_from(InboundMessage)) or 0,
            "deviations": session.scalar(select(func.count()).select_from(Deviation)) or 0,
        }


def complete(floor: Floor, number: str) -> Any:  # noqa: F811 - the fixture's name
    ex = floor.execution
    return floor.work(ex.complete_step, actor="olga", ref=number, path=PH, signatures=[sig("olga")])


@pytest.fixture
def folder(floor: Floor, tmp_path: Path) -> tuple[Wiring, Path]:  # noqa: F811 - the fixture's name
    wiring = build(floor.services)
    lims_token(floor.services)
    use_lims(wiring, Channel(name="lims", transport="folder", folder=tmp_path / "lims", token="LIMS-1"))
    for sub in ("in", "out", "done", "refused"):
        (tmp_path / "lims" / sub).mkdir(parents=True)
    return wiring, tmp_path / "lims"


@pytest.mark.requirement("URS-INT-005", "URS-BAT-010")
def test_results_in_the_folder_let_the_waiting_step_complete(
    floor: Floor,  # noqa: F811 - the fixture's name
    folder: tuple[Wiring, Path],
) -> None:
    wiring, where = folder
    number = sampled(floor, "S-77")
    body = message("S-77", ("pH", "5.2"), ("assay", "N"), message_id="LIMS-1001").replace(b'"N"', b"99.10")
    (where / "in" / "r1.json").write_bytes(body)  # a JSON number is kept as its decimal text, never a float
    (where / "in" / "notes.txt").write_text("not ours")
    [(path, receipt)] = wiring.import_lims_folder()
    assert (path.parent.name, receipt.accepted) == ("done", True)
    ack = json.loads((where / "out" / "ack-r1.json").read_bytes())
    assert ack["status"] == "accepted"
    assert ack["message_id"] == "LIMS-1001"
    assert [(r["test"], r["value"], r["in_spec"]) for r in ack["results"]] == [
        ("pH", "5.2", True),
        ("assay", "99.10", None),
    ]
    assert complete(floor, number).completed
    with floor.services.session_factory() as session:
        actors = {
            e.actor for e in session.scalars(select(AuditEvent).where(AuditEvent.action == "sample.result.entered"))
        }
        applied = session.scalars(select(AuditEvent).where(AuditEvent.action == "lims.message.applied")).one()
    assert actors == {"lims:LIMS-1"}
    assert applied.actor == "lims:LIMS-1"
    for part in (b'"channel":"lims:folder"', b'"token":"LIMS-1"', b'"sample":"S-77"', b'"analyst":"lab.jdoe"'):
        assert part in applied.canonical


@pytest.mark.requirement("URS-INT-005")
def test_a_message_with_one_bad_result_is_refused_whole_naming_the_field(
    floor: Floor,  # noqa: F811 - the fixture's name
    folder: tuple[Wiring, Path],
) -> None:
    wiring, where = folder
    sampled(floor, "S-78")
    before = stored(floor.services)
    (where / "in" / "a.json").write_bytes(message("S-78", ("pH", "5.2"), ("density", "1.02")))
    (where / "in" / "b.json").write_bytes(message("S-78", ("pH", "5,2")))
    (where / "in" / "c.json").write_bytes(b'{"format": "ebr.lims.results/1", "sample_id": "S-78", "results": [')
    (where / "in" / "d.json").write_bytes(message("S-99", ("pH", "5.2")))
    (where / "in" / "e.json").write_bytes(
        json.dumps({"format": FORMAT, "sample_id": "S-78", "results": [{"test": "pH"}]}).encode()
    )
    done = wiring.import_lims_folder()
    assert [(p.parent.name, r.accepted) for p, r in done] == [("refused", False)] * 5
    errors = {p.name: json.loads((where / "out" / f"ack-{p.name}").read_bytes())["error"] for p, _ in done}
    assert errors["a.json"]["field"] == "results[1]"
    assert "its tests are: pH, assay" in errors["a.json"]["problem"]
    assert errors["b.json"]["field"] == "results[0]"
    assert "pH" in errors["b.json"]["problem"]
    assert errors["c.json"]["field"] == "message"
    assert errors["c.json"]["problem"].startswith("not JSON")
    assert errors["d.json"]["field"] == "sample_id"
    assert "no sample 'S-99' waits" in errors["d.json"]["problem"]
    assert errors["e.json"] == {"field": "results[0].value", "problem": "Missing data for required field."}
    assert stored(floor.services) == before  # the good pH of a.json was not kept either


@pytest.mark.requirement("URS-INT-005")
def test_the_folder_is_refused_without_a_live_lims_token(
    floor: Floor,  # noqa: F811 - the fixture's name
    folder: tuple[Wiring, Path],
) -> None:
    wiring, where = folder
    sampled(floor, "S-79")
    with unit_of_work(floor.services.session_factory) as session:
        tokens.revoke(session, audit=floor.services.audit, clock=floor.services.clock, actor="admin",
                      name="LIMS-1", reason="LIMS replaced")  # fmt: skip
    (where / "in" / "r.json").write_bytes(message("S-79", ("pH", "5.2"), ("assay", "99")))
    [(path, receipt)] = wiring.import_lims_folder()
    assert path.parent.name == "refused"
    assert not receipt.accepted
    assert json.loads(receipt.answer)["error"]["field"] == "token"
    assert stored(floor.services)["results"] == 0


# -- over the real RabbitMQ ------------------------------------------------------------------


def publish(names: Names, body: bytes, message_id: str, token: str | None) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url()))
    channel = connection.channel()
    channel.confirm_delivery()
    headers = {"Authorization": f"Bearer {token}"} if token is not None else None
    properties = pika.BasicProperties(message_id=message_id, reply_to=names.replies, delivery_mode=2, headers=headers)
    channel.basic_publish("", names.inbound, body, properties=properties)
    connection.close()


@pytest.fixture
def amqp(floor: Floor, broker: Names) -> Wiring:  # noqa: F811 - the fixtures' names
    wiring = build(floor.services)
    use_lims(
        wiring,
        Channel(name="lims", transport="amqp", amqp_url=url(), exchange=broker.exchange,
                inbound_queue=broker.inbound, outbound_queue=broker.outbound),
    )  # fmt: skip
    return wiring


@pytest.mark.requirement("URS-INT-005", "URS-BAT-010")
def test_rabbitmq_results_out_of_spec_duplicate_and_malformed(
    floor: Floor,  # noqa: F811 - the fixture's name
    amqp: Wiring,
    broker: Names,  # noqa: F811 - the fixture's name
) -> None:
    secret = lims_token(floor.services)
    erp_secret = lims_token(floor.services, "ERP-1", tokens.INBOUND)
    number = sampled(floor, "S-OOS")
    oos = message("S-OOS", ("pH", "8.1"), ("assay", "100.2"))
    mid = f"LIMS-{uuid.uuid4().hex[:8]}"
    publish(broker, oos, mid, secret)
    publish(broker, oos, mid, secret)  # redelivered by the LIMS: the same message id
    publish(broker, b"\xff\xfe not json", "LIMS-bad", secret)
    publish(broker, message("S-OOS", ("assay", "99")), "LIMS-no-token", None)
    publish(broker, message("S-OOS", ("assay", "99")), "LIMS-erp-token", erp_secret)
    assert amqp.lims_consumer().run(max_messages=5, idle_seconds=2) == 5
    replies = drain(broker.replies)
    assert [props.correlation_id for props, _ in replies] == [mid, mid, "LIMS-bad", "LIMS-no-token", "LIMS-erp-token"]
    assert {props.content_type for props, _ in replies} == {"application/json"}
    answers = [json.loads(body) for _, body in replies]
    assert answers[0] == answers[1]
    assert answers[0]["status"] == "accepted"
    [dev] = [r["deviation"] for r in answers[0]["results"] if r["test"] == "pH"]
    assert dev is not None
    assert [a["status"] for a in answers[2:]] == ["refused"] * 3
    assert answers[2]["error"]["field"] == "message"
    assert "UTF-8" in answers[2]["error"]["problem"]
    assert answers[3]["error"]["field"] == "token"
    assert "required" in answers[3]["error"]["problem"]
    assert answers[4]["error"]["field"] == "token"
    assert "scope b2mml:inbound" in answers[4]["error"]["problem"]
    assert stored(floor.services) == {"results": 2, "inbound": 1, "deviations": 1}  # nothing doubled
    step = floor.step(number, PH)
    assert (step.state, step.data["held_by"]) == ("Held", "sample")
    with floor.services.session_factory() as session:
        deviation = session.scalars(select(Deviation)).one()
        applied = session.scalars(select(AuditEvent).where(AuditEvent.action == "lims.message.applied")).one()
    assert deviation.kind == "out_of_spec"
    assert deviation.number == dev
    assert applied.actor == "lims:LIMS-1"
    assert b'"channel":"lims:amqp"' in applied.canonical


@pytest.mark.requirement("URS-INT-028")
def test_a_lims_message_that_fails_every_time_is_dead_lettered_and_the_next_applied(
    floor: Floor,  # noqa: F811 - the fixture's name
    amqp: Wiring,
    broker: Names,  # noqa: F811 - the fixture's name
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = lims_token(floor.services)
    sampled(floor, "S-DL")
    real_receive = amqp.lims.receive

    def buggy(session: Any, data: bytes, **kwargs: Any) -> Any:
        if kwargs.get("message_id") == "LIMS-POISON":
            raise RuntimeError("a bug on this message")
        return real_receive(session, data, **kwargs)

    monkeypatch.setattr(amqp.lims, "receive", buggy)
    publish(broker, message("S-DL", ("pH", "5.2")), "LIMS-POISON", secret)
    publish(broker, message("S-DL", ("pH", "5.2"), ("assay", "99")), "LIMS-GOOD", secret)
    amqp.lims_consumer().run(idle_seconds=2)
    answers = {props.correlation_id: json.loads(body) for props, body in drain(broker.replies)}
    assert answers["LIMS-GOOD"]["status"] == "accepted"
    assert (answers["LIMS-POISON"]["status"], answers["LIMS-POISON"]["error"]["field"]) == ("refused", "message")
    assert "dead letter" in answers["LIMS-POISON"]["error"]["problem"]
    assert stored(floor.services) == {"results": 2, "inbound": 1, "deviations": 0}  # only the good message's
    [(props, _)] = drain(f"{broker.inbound}.dead")
    assert (props.message_id, props.headers["x-ebr-attempts"]) == ("LIMS-POISON", 3)
    with floor.services.session_factory() as session:
        [letter] = session.scalars(select(InboundDeadLetter)).all()
    assert (letter.channel, letter.message_id, letter.error) == (
        "lims:amqp", "LIMS-POISON", "RuntimeError: a bug on this message"
    )  # fmt: skip
