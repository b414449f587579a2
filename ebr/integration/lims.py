"""QC results from the LIMS over the transports (folder, AMQP), into the sample-results service.

A message is one JSON document (format ``ebr.lims.results/1``, ``docs/integration.md``)::

    {"format": "ebr.lims.results/1", "message_id": "LIMS-4711", "sample_id": "S-77",
     "results": [{"test": "pH", "value": "5.2", "unit": "pH", "analyst": "jdoe"}]}

Each result goes through :func:`ebr.execution.samples.enter_result` — the service
behind ``POST /api/samples/<id>/results`` — so the checks, the specification, the
out-of-specification deviation and the hold are the same. The whole message is one
transaction: one bad result refuses the message and nothing is stored. The actor is
the machine token (``lims:<token name>``, scope ``lims:results``); the audit event
``lims.message.applied`` names the channel (``lims:amqp``, ``lims:folder``). A message
id seen before is answered with the first answer and changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from marshmallow import EXCLUDE, Schema, fields, validate
from marshmallow import ValidationError as SchemaError
from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.chain import Entity
from audit.trail import AuditTrail
from ebr.core.clock import Clock
from ebr.core.errors import EbrError, NotFound
from ebr.core.ids import new_id
from ebr.execution.models import SampleResult
from ebr.integration.models import InboundMessage

FORMAT = "ebr.lims.results/1"
MAX_BYTES = 256 * 1024
MAX_RESULTS = 100


class LimsRefused(EbrError):
    """The message is refused (nothing stored): ``field`` names what is wrong, ``problem`` says why."""

    def __init__(self, field_name: str, problem: str, message_id: str | None = None) -> None:
        super().__init__(f"{field_name}: {problem}")
        self.field, self.problem, self.message_id = field_name, problem, message_id


class SampleResults(Protocol):
    """The part of ``ebr.execution.service.Execution`` that enters a QC result."""

    def enter_sample_result(
        self, session: Session, *, actor: str, ref: str, test: str, value: str, unit: str | None = None
    ) -> SampleResult: ...


class _Text(fields.String):
    """A string, or a JSON number kept exactly as its decimal text (never a float)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, Decimal | int) and not isinstance(value, bool):
            return str(value)
        text: str = super()._deserialize(value, attr, data, **kwargs)
        return text


class _Result(Schema):
    class Meta:
        unknown = EXCLUDE

    test = fields.String(required=True, validate=validate.Length(min=1, max=100))
    value = _Text(required=True, validate=validate.Length(min=1, max=64))
    unit = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=32))
    analyst = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100))


class _Message(Schema):
    class Meta:
        unknown = EXCLUDE

    format = fields.String(required=True, validate=validate.Equal(FORMAT, error=f"must be {FORMAT!r}"))
    message_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=200))
    sample_id = fields.String(required=True, validate=validate.Length(min=1, max=100))
    results = fields.List(fields.Nested(_Result), required=True, validate=validate.Length(min=1, max=MAX_RESULTS))


def _first_error(messages: Any, path: str = "") -> tuple[str, str]:
    """The first (field path, problem) of marshmallow's nested error dict, e.g. ``results[0].value``."""
    if isinstance(messages, dict):
        key = sorted(messages, key=str)[0]
        step = f"[{key}]" if isinstance(key, int) else (f".{key}" if path else str(key))
        return _first_error(messages[key], path + step)
    if isinstance(messages, list) and messages:
        return path or "message", str(messages[0])
    return path or "message", str(messages)


def parse(data: bytes, *, sample_id: str | None = None) -> dict[str, Any]:
    """The validated message; raises :class:`LimsRefused` naming the field and the problem.

    ``sample_id``: the sample the message was sent to (HTTP: the URL's); the message's own
    ``sample_id`` may then be left out, and must be the same when given.
    """
    if len(data) > MAX_BYTES:
        raise LimsRefused("message", f"larger than {MAX_BYTES} bytes; send at most {MAX_RESULTS} results a message")
    try:
        raw = json.loads(data.decode("utf-8"), parse_float=Decimal)
    except UnicodeDecodeError:
        raise LimsRefused("message", "not UTF-8 text; send JSON encoded as UTF-8") from None
    except json.JSONDecodeError as exc:
        raise LimsRefused("message", f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    if not isinstance(raw, dict):
        raise LimsRefused("message", f"must be a JSON object with format {FORMAT!r}")
    mid = raw.get("message_id") if isinstance(raw.get("message_id"), str) else None
    if sample_id is not None:
        given = raw.setdefault("sample_id", sample_id)
        if given != sample_id:
            raise LimsRefused(
                "sample_id", f"the message is for sample {given!r} but was sent to sample {sample_id!r}; "
                "send each sample's results to its own address", mid,
            )  # fmt: skip
    try:
        loaded: dict[str, Any] = _Message().load(raw)
    except SchemaError as exc:
        where, problem = _first_error(exc.messages)
        raise LimsRefused(where, problem, mid) from None
    tests = [r["test"].strip().lower() for r in loaded["results"]]
    for index, test in enumerate(tests):
        if test in tests[:index]:
            raise LimsRefused(f"results[{index}].test", f"{test!r} appears twice; send one result per test", mid)
    return loaded


@dataclass
class LimsReceipt:
    """What became of a LIMS message: the JSON answer and whether it was accepted."""

    answer: bytes
    message_id: str
    accepted: bool = True
    duplicate: bool = False
    results: list[dict[str, Any]] = field(default_factory=list)


def answer(message_id: str | None, *, accepted: bool, **content: Any) -> bytes:
    body = {"format": FORMAT + "+ack", "message_id": message_id, "status": "accepted" if accepted else "refused"}
    return json.dumps(body | content, sort_keys=True).encode()


def refusal(exc: LimsRefused, message_id: str | None = None) -> bytes:
    """The error answer: the field and the problem (nothing was stored)."""
    return answer(exc.message_id or message_id, accepted=False, error={"field": exc.field, "problem": exc.problem})


class LimsIntake:
    """Applies LIMS result messages through the sample-results service."""

    def __init__(self, *, audit: AuditTrail, clock: Clock, samples: SampleResults) -> None:
        self.audit, self.clock, self.samples = audit, clock, samples

    def receive(
        self,
        session: Session,
        data: bytes,
        *,
        channel: str,
        source: str,
        message_id: str | None = None,
        sample_id: str | None = None,
    ) -> LimsReceipt:
        """Apply one message in ``session``'s transaction (``source``: the token's name).

        ``sample_id``: the sample the message was addressed to (HTTP), see :func:`parse`.
        Raises :class:`LimsRefused`; the caller rolls back, so nothing is stored.
        """
        message = parse(data, sample_id=sample_id)
        mid = (message["message_id"] or message_id or hashlib.sha256(data).hexdigest())[:190]
        key = f"lims:{mid}"  # the inbound log is shared with the ERP: its ids cannot collide with ours
        seen = session.scalars(select(InboundMessage).where(InboundMessage.message_id == key)).first()
        if seen is not None:
            if seen.body_sha256 != hashlib.sha256(data).hexdigest() or seen.orders != [message["sample_id"]]:
                raise LimsRefused(
                    "message_id", f"{mid!r} was used for another message already; give each message its own id", mid
                )
            return LimsReceipt(seen.acknowledgement.encode(), mid, duplicate=True)
        actor = f"lims:{source}"
        entered = []
        for index, item in enumerate(message["results"]):
            try:
                row = self.samples.enter_sample_result(
                    session, actor=actor, ref=message["sample_id"], test=item["test"], value=item["value"],
                    unit=item["unit"],
                )  # fmt: skip
            except NotFound as exc:
                raise LimsRefused("sample_id", str(exc), mid) from None
            except EbrError as exc:
                raise LimsRefused(f"results[{index}]", str(exc), mid) from None
            entered.append(
                {"test": row.test, "value": row.value, "unit": row.unit, "in_spec": row.in_spec,
                 "deviation": row.deviation, "analyst": item["analyst"]}
            )  # fmt: skip
        ack = answer(mid, accepted=True, sample_id=message["sample_id"], results=entered)
        session.add(
            InboundMessage(
                id=new_id(), message_id=key, channel=channel, schema="lims-json-1", verb="results",
                noun="SampleResults", body_sha256=hashlib.sha256(data).hexdigest(), orders=[message["sample_id"]],
                acknowledgement=ack.decode(), received_at=self.clock.now(),
            )
        )  # fmt: skip
        self.audit.record(
            session,
            actor=actor,
            action="lims.message.applied",
            entity=Entity("lims_message", mid),
            after={"channel": channel, "token": source, "sample": message["sample_id"],
                   "sha256": hashlib.sha256(data).hexdigest(), "results": entered},
        )  # fmt: skip
        return LimsReceipt(ack, mid, results=entered)
