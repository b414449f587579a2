"""Building the integration from the composition root's services (once per installation)."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from ebr.core.db import unit_of_work
from ebr.core.errors import ConfigError, Conflict, EbrError, PermissionDenied, StateError, ValidationError
from ebr.execution.service import build as build_execution
from ebr.integration import deadletters, tokens
from ebr.integration.attempts import SqlAttempts
from ebr.integration.b2mml import Document, MessageRefused
from ebr.integration.b2mml_material import read
from ebr.integration.consumer import AmqpConsumer
from ebr.integration.lims import LimsIntake, LimsReceipt, LimsRefused, refusal
from ebr.integration.masterdata import MasterData
from ebr.integration.outbox import Outbox
from ebr.integration.redelivery import DeadLetter
from ebr.integration.services import Integration, Receipt
from ebr.integration.settings import Channel, IntegrationSettings
from ebr.integration.transports import AmqpTransport, FolderTransport, HttpTransport, Transport
from ebr.integration.worker import DeliveryWorker

RETRIES = 5
# Inbound ERP messages applied in one transaction when that many are waiting on the queue.
INBOUND_BATCH = 50
# The database gone (or locked): a broker message that fails so is not its own fault, never dead-lettered.
TRANSIENT = (OperationalError, InterfaceError)


@dataclass
class Wiring:
    """The integration's parts, built from the installation's services."""

    services: Any
    outbox: Outbox
    inbound: Integration
    lims: LimsIntake

    @property
    def settings(self) -> IntegrationSettings:
        return self.outbox.settings

    def receive(self, data: bytes, *, channel: str, message_id: str | None = None) -> Receipt:
        """Apply one message in its own transaction; a refusal comes back as an error answer, nothing stored."""
        for attempt in range(1, RETRIES + 1):
            try:
                with unit_of_work(self.services.session_factory) as session:
                    return self.inbound.receive(session, data, channel=channel, message_id=message_id)
            except MessageRefused as exc:
                return Receipt(self.inbound.refusal(exc), message_id or "", accepted=False, lines=[exc.summary])
            except (Conflict, IntegrityError):
                # A concurrent writer won (batch number, order row, a new material or lot of the same
                # code): everything rolled back; apply again and find what the winner stored.
                if attempt == RETRIES:
                    raise
                time.sleep(random.uniform(0.005, 0.05) * attempt)  # noqa: S311 - jitter, not security
        raise AssertionError("unreachable")

    def replay(self, letter_id: str, *, actor: str, reason: str) -> Receipt:
        """Apply an inbound dead letter again, once its cause is fixed; the letter goes in the same transaction.

        Raises NotFound, or StateError naming why (not replayable, refused again, failed
        again): then nothing changed and the letter stays.
        """
        if not reason.strip():
            raise ValidationError("a replay needs a reason: what was fixed")
        with unit_of_work(self.services.session_factory) as session:
            row, body = deadletters.replayable(session, letter_id)
            try:
                receipt = self.inbound.receive(session, body, channel=row.channel, message_id=row.message_id)
            except MessageRefused as exc:
                raise StateError(f"dead letter {letter_id} was refused: {exc.summary}; it stays") from None
            except EbrError:
                raise
            except Exception as exc:  # the failure that dead-lettered it, still there
                raise StateError(
                    f"dead letter {letter_id} failed again ({type(exc).__name__}: {exc}); it stays"
                ) from exc
            outcome = (["duplicate: nothing changed"] if receipt.duplicate else []) + receipt.lines
            audit = self.services.audit
            deadletters.replayed(session, audit=audit, row=row, actor=actor, reason=reason, outcome=outcome)
            return receipt

    def receive_many(self, items: Sequence[tuple[bytes, str | None]], *, channel: str) -> list[Receipt]:
        """Apply several messages (body, message id) in one transaction; one receipt each, in order.

        Each is parsed and validated first: a refused one gets its error answer alone and
        nothing of it is stored. Orders are applied in order, each with its audit events,
        and committed together; a master-data message (which can be refused after writing)
        is applied alone in its own transaction, after the orders delivered before it. If a
        concurrent writer wins a race (``Conflict``), the orders of that transaction were
        rolled back and are applied one by one instead.
        """
        receipts: list[Receipt | None] = [None] * len(items)
        run: list[tuple[int, Document, bytes, str | None]] = []
        for index, (data, mid) in enumerate(items):
            try:
                doc = read(data)
            except MessageRefused as exc:
                receipts[index] = Receipt(self.inbound.refusal(exc), mid or "", accepted=False, lines=[exc.summary])
                continue
            if isinstance(doc, Document):
                run.append((index, doc, data, mid))
                continue
            # Master data may be refused after writing: applied alone, after the orders before it.
            self._apply_run(run, receipts, channel)
            run = []
            receipts[index] = self.receive(data, channel=channel, message_id=mid)
        self._apply_run(run, receipts, channel)
        return [r for r in receipts if r is not None]

    def _apply_run(
        self, run: list[tuple[int, Document, bytes, str | None]], receipts: list[Receipt | None], channel: str
    ) -> None:
        """Orders (already parsed) applied in one transaction; one by one if a concurrent writer won a race."""
        if not run:
            return
        try:
            with unit_of_work(self.services.session_factory) as session:
                applied = self.inbound.receive_parsed(
                    session, [(doc, data, mid) for _, doc, data, mid in run], channel=channel
                )
        except Conflict:
            applied = [self.receive(data, channel=channel, message_id=mid) for _, _, data, mid in run]
        for (index, *_), receipt in zip(run, applied, strict=True):
            receipts[index] = receipt

    def receive_results(
        self,
        data: bytes,
        *,
        channel: str,
        bearer: str | None = None,
        message_id: str | None = None,
        sample_id: str | None = None,
    ) -> LimsReceipt:
        """Apply one LIMS result message in its own transaction; a refusal is an error answer, nothing stored.

        ``bearer``: the token the message carried (AMQP header ``Authorization: Bearer …``);
        without one, the channel's configured token (``EBR_LIMS_TOKEN``, the folder) is used.
        ``sample_id``: the sample the message was addressed to (HTTP ``/samples/<id>/results``).
        """
        for attempt in range(1, RETRIES + 1):
            try:
                with unit_of_work(self.services.session_factory) as session:
                    if bearer is not None:
                        token = tokens.authenticate(session, clock=self.services.clock, token=bearer, scope=tokens.LIMS)
                    else:
                        token = tokens.named(session, name=self.settings.channel("lims").token, scope=tokens.LIMS)
                    receipt = self.lims.receive(
                        session, data, channel=channel, source=token.name, message_id=message_id, sample_id=sample_id
                    )
                    if receipt.duplicate:
                        session.refresh(token)  # a repeat changes nothing, not even the token's last use
                    else:
                        token.last_used_at = self.services.clock.now()
                    return receipt
            except PermissionDenied as exc:
                refused = LimsRefused("token", str(exc))
                return LimsReceipt(refusal(refused, message_id), message_id or "", accepted=False)
            except LimsRefused as exc:
                return LimsReceipt(refusal(exc, message_id), exc.message_id or message_id or "", accepted=False)
            except Conflict:
                if attempt == RETRIES:
                    raise
                time.sleep(random.uniform(0.005, 0.05) * attempt)  # noqa: S311 - jitter, not security
        raise AssertionError("unreachable")

    def lims_consumer(self) -> AmqpConsumer:
        """The AMQP consumer of the LIMS inbound queue (results; the token in the ``Authorization`` header)."""
        channel = self.settings.channel("lims")
        return AmqpConsumer(
            channel.amqp_url,
            queue=channel.inbound_queue,
            exchange=channel.exchange,
            channel="lims",
            content_type="application/json",
            handler=lambda body, mid, headers: _lims_answer(
                self.receive_results(body, channel="lims:amqp", bearer=_bearer(headers), message_id=mid)
            ),
            **self._dead_lettering(channel, "lims:amqp"),
        )

    def import_lims_folder(self) -> list[tuple[Path, LimsReceipt]]:
        """Apply every ``*.json`` waiting in the LIMS channel's ``in/`` folder, answer it, move it aside."""
        folder = FolderTransport(self.settings.channel("lims").folder)
        done = []
        for path in folder.incoming("*.json"):
            receipt = self.receive_results(path.read_bytes(), channel="lims:folder")
            done.append((folder.finish(path, receipt.answer, accepted=receipt.accepted), receipt))
        return done

    def transport(self, name: str) -> Transport:
        """The outbound transport of channel ``name``."""
        channel = self.settings.channel(name)
        return transport_for(channel)

    def worker(self) -> DeliveryWorker:
        transports = {
            name: self.transport(name)
            for name in self.settings.channels
            if self.settings.channel(name).transport != "off"
        }
        return DeliveryWorker(
            session_factory=self.services.session_factory,
            clock=self.services.clock,
            settings=self.settings,
            transports=transports,
        )

    def consumer(self, name: str = "erp", *, batch: int = INBOUND_BATCH) -> AmqpConsumer:
        """The AMQP consumer of channel ``name``'s inbound queue (up to ``batch`` messages a transaction)."""
        channel = self.settings.channel(name)
        return AmqpConsumer(
            channel.amqp_url,
            queue=channel.inbound_queue,
            exchange=channel.exchange,
            channel=name,
            handler=lambda body, mid, _headers: _answer(self.receive(body, channel=f"{name}:amqp", message_id=mid)),
            batch_handler=lambda deliveries: [
                _answer(r) for r in self.receive_many([(b, m) for b, m, _ in deliveries], channel=f"{name}:amqp")
            ],
            batch_size=batch,
            **self._dead_lettering(channel, f"{name}:amqp"),
        )

    def _dead_lettering(self, channel: Channel, source: str) -> dict[str, Any]:
        """A consumer's dead-letter settings: its attempt log (database), attempts, what is transient, the letter."""

        def keep(letter: DeadLetter) -> bytes:
            with unit_of_work(self.services.session_factory) as session:
                deadletters.record(
                    session, audit=self.services.audit, clock=self.services.clock, channel=source, letter=letter
                )
            problem = (
                f"the message could not be applied in {letter.attempts} attempts ({letter.error}); nothing of it "
                "was stored and it waits as a dead letter for the administrator (ebr erp status)"
            )
            if channel.name == "lims":
                return refusal(LimsRefused("message", problem), letter.message_id)
            return self.inbound.refusal(MessageRefused(problem), schema=self.settings.schema)

        return {
            "attempts": SqlAttempts(session_factory=self.services.session_factory, clock=self.services.clock),
            "max_attempts": self.settings.inbound_max_attempts,
            "dead_letters": keep,
            "dead_letter_queue": channel.dead_letter_queue,
            "transient": TRANSIENT,
        }

    def import_folder(self, name: str = "erp") -> list[tuple[Path, Receipt]]:
        """Apply every file waiting in the channel's ``in/`` folder, answer it, move it aside."""
        folder = FolderTransport(self.settings.channel(name).folder)
        done = []
        for path in folder.incoming():
            receipt = self.receive(path.read_bytes(), channel=f"{name}:folder", message_id=None)
            done.append((folder.finish(path, receipt.acknowledgement, accepted=receipt.accepted), receipt))
        return done


def _answer(receipt: Receipt) -> tuple[bytes, bool]:
    return receipt.acknowledgement, receipt.accepted


def _lims_answer(receipt: LimsReceipt) -> tuple[bytes, bool]:
    return receipt.answer, receipt.accepted


def _bearer(headers: Mapping[str, Any]) -> str:
    """The token of an ``Authorization: Bearer …`` AMQP header ("" when absent: refused as no token)."""
    value = headers.get("Authorization") or headers.get("authorization") or b""
    text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    scheme, _, token = text.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def transport_for(channel: Channel) -> Transport:
    """The transport a channel's settings name."""
    if channel.transport == "folder":
        return FolderTransport(channel.folder)
    if channel.transport == "amqp":
        return AmqpTransport(
            channel.amqp_url, exchange=channel.exchange, queue=channel.outbound_queue, channel=channel.name
        )
    if channel.transport == "http" and channel.http_url:
        return HttpTransport(channel.http_url)
    raise ConfigError(f"channel {channel.name} has no transport (EBR_{channel.name.upper()}_TRANSPORT is off)")


def build(services: Any) -> Wiring:
    """The installation's integration (cached in ``services.extras``)."""
    existing = services.extras.get("integration")
    if isinstance(existing, Wiring):
        return existing
    outbox = services.extras.get("outbox")
    if not isinstance(outbox, Outbox):
        raise ConfigError("the outbox is not wired into the audit trail; build services with ebr.bootstrap")
    execution = build_execution(services)
    master = MasterData(
        audit=services.audit, clock=services.clock, materials=execution.materials, recipes=services.recipes
    )
    inbound = Integration(
        audit=services.audit, clock=services.clock, recipes=services.recipes, batches=execution, master=master
    )
    lims = LimsIntake(audit=services.audit, clock=services.clock, samples=execution)
    wiring = Wiring(services=services, outbox=outbox, inbound=inbound, lims=lims)
    services.extras["integration"] = wiring
    return wiring
