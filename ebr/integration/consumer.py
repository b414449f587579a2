"""How messages arrive over RabbitMQ: the inbound AMQP consumer (AMQP 0-9-1 through pika).

The consumer acknowledges a delivery only after the message was applied and committed
and its answer published (manual acks): a broker or process that dies in between
redelivers it, and the inbound log recognises the repeat.

A message whose handling fails with an error that is neither a refusal (those are
answered) nor transient (the database gone: the consumer waits and reconnects) goes
back to the queue; after ``max_attempts`` such failures (``EBR_INBOUND_MAX_ATTEMPTS``,
default 3) it is dead-lettered, as RabbitMQ's own dead-lettering does: recorded for the
administrator, published to the channel's dead-letter queue, then acknowledged, so the
messages behind it go on. A message the consumer does not survive (killed, crashed)
counts too: the attempts are written down before they run, in an
:class:`~ebr.integration.redelivery.AttemptLog` that outlives the process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from ebr.integration.redelivery import (
    DEFAULT_MAX_ATTEMPTS,
    AttemptLog,
    DeadLetter,
    DeadLetters,
    MemoryAttempts,
    Tried,
    attempt_key,
)

log = logging.getLogger(__name__)


Handler = Callable[[bytes, str | None, Mapping[str, Any]], tuple[bytes, bool]]
"""Applies one inbound body (with its message id and AMQP headers); returns the answer and whether it was accepted."""
Delivery = tuple[bytes, str | None, Mapping[str, Any]]
BatchHandler = Callable[[Sequence[Delivery]], list[tuple[bytes, bool]]]
"""Applies several deliveries in one transaction; returns one (answer, accepted) per delivery, in order."""


class AmqpConsumer:
    """Consumes the inbound queue with manual acks and publishes each answer (confirmed) first.

    With a ``batch_handler``, the deliveries already waiting (up to ``batch_size``, never
    waiting for more) are handed over together and applied in one transaction; after
    its commit the answers are published on a second channel in AMQP transaction mode
    and committed together (``tx.commit``: one round trip for the batch, where a
    confirming channel in pika waits for each publish; RabbitMQ takes responsibility for
    them on commit), and only then are the deliveries acknowledged with one
    ``basic_ack(multiple=True)``. If the batch handler fails with an exception
    (the database, or a bug on one message), nothing of the batch was committed and its
    deliveries are applied again one a transaction, as without batches: the good ones
    are answered and acknowledged, a failing one is returned to the queue (``nack``,
    requeue) to be tried again.

    A failure counts as an attempt only when the message was applied alone; a delivery
    that comes back (``redelivered``: after a failure, a lost connection or a consumer
    that died) is applied alone, its attempt written down in ``attempts`` before it runs,
    so a consumer killed by a message leaves a count its successor reads. After
    ``max_attempts`` the message is dead-lettered — before it runs again, when the
    last attempts were ones the consumer did not survive: ``dead_letters`` records it (if that
    fails, the message stays on the queue and the error is raised), it is published
    (confirmed) to ``dead_letter_queue`` with its error in the ``x-ebr-error`` header, the
    error answer is sent to the sender, and the delivery is acknowledged. An exception
    of the ``transient`` types (the database gone) is never counted: the message goes back
    to the queue and the error is raised (:meth:`run_until` waits and goes on).
    """

    def __init__(
        self,
        url: str,
        *,
        queue: str,
        exchange: str,
        channel: str,
        handler: Handler,
        content_type: str = "application/xml",
        batch_handler: BatchHandler | None = None,
        batch_size: int = 1,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        dead_letters: DeadLetters | None = None,
        dead_letter_queue: str | None = None,
        transient: tuple[type[Exception], ...] = (),
        attempts: AttemptLog | None = None,
    ) -> None:
        self.parameters = pika.URLParameters(url)
        self.queue, self.exchange, self.channel_name, self.handler = queue, exchange, channel, handler
        self.content_type = content_type
        self.batch_handler = batch_handler
        self.batch_size = max(1, batch_size) if batch_handler is not None else 1
        self.max_attempts = max(1, max_attempts)
        self.dead_letters = dead_letters
        self.dead_letter_queue = dead_letter_queue or f"{queue}.dead"
        self.transient = transient
        self.attempts: AttemptLog = attempts or MemoryAttempts()

    def run(
        self,
        *,
        max_messages: int | None = None,
        idle_seconds: float | None = 1.0,
        stop: Callable[[], bool] = lambda: False,
    ) -> int:
        """Consume until ``stop()``, ``max_messages`` or ``idle_seconds`` without a message (None: never).

        Returns the number of messages handled.
        """
        connection = pika.BlockingConnection(self.parameters)
        handled = 0
        tick = 0.5 if idle_seconds is None else min(0.5, idle_seconds)
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            channel.exchange_declare(self.exchange, exchange_type="topic", durable=True)
            channel.queue_declare(self.queue, durable=True)
            channel.queue_declare(self.dead_letter_queue, durable=True)
            channel.basic_qos(prefetch_count=max(20, self.batch_size))
            replies = self._answer_channel(connection)  # a batch's answers
            quiet = 0.0
            deliveries = channel.consume(self.queue, inactivity_timeout=tick)
            for method, props, body in deliveries:
                if method is None:
                    quiet += tick
                    if stop() or (idle_seconds is not None and quiet >= idle_seconds):
                        break
                    continue
                quiet = 0.0
                if self.batch_handler is None:
                    self._one(channel, method.delivery_tag, props, body, redelivered=method.redelivered)
                    handled += 1
                else:
                    room = self.batch_size if max_messages is None else min(self.batch_size, max_messages - handled)
                    batch = [(method, props, body), *self._waiting(connection, channel, deliveries, room - 1)]
                    self._many(channel, replies, self.batch_handler, batch)
                    handled += len(batch)
                if stop() or (max_messages is not None and handled >= max_messages):
                    break
            channel.cancel()
        finally:
            if connection.is_open:
                connection.close()
        return handled

    def run_until(self, stop: threading.Event, *, retry_seconds: float = 1.0) -> None:
        """Consume until ``stop`` is set, reconnecting after a lost broker connection or a transient error."""
        while not stop.is_set():
            try:
                self.run(idle_seconds=None, stop=stop.is_set)
            except (pika.exceptions.AMQPError, OSError):
                log.warning("AMQP consumer of %s lost its connection; reconnecting", self.queue, exc_info=True)
                stop.wait(retry_seconds)
            except self.transient:
                # The database is gone: the message went back to the queue uncounted; try again later.
                log.warning("AMQP consumer of %s: transient failure; retrying", self.queue, exc_info=True)
                stop.wait(retry_seconds)

    @staticmethod
    def _waiting(
        connection: pika.BlockingConnection,
        channel: BlockingChannel,
        deliveries: Iterator[tuple[Any, Any, Any]],
        room: int,
    ) -> list[tuple[Any, pika.BasicProperties, bytes]]:
        """Up to ``room`` more deliveries that have already arrived (never waits for one)."""
        if room <= 0:
            return []
        connection.process_data_events(time_limit=0)  # read what the socket holds
        more: list[tuple[Any, pika.BasicProperties, bytes]] = []
        while len(more) < room and channel.get_waiting_message_count() > 0:
            method, props, body = next(deliveries)
            if method is None:
                break
            more.append((method, props, body))
        return more

    @staticmethod
    def _answer_channel(connection: pika.BlockingConnection) -> BlockingChannel:
        """A channel in AMQP transaction mode for a batch's answers (a confirming channel waits for each)."""
        answers = connection.channel()
        answers.tx_select()
        return answers

    def _many(
        self,
        channel: BlockingChannel,
        answers_channel: BlockingChannel,
        handler: BatchHandler,
        batch: Sequence[tuple[Any, pika.BasicProperties, bytes]],
    ) -> None:
        last = batch[-1][0].delivery_tag
        if any(method.redelivered for method, _, _ in batch):
            # Back after a failure or a consumer that died: applied alone, each attempt written
            # down first, so the one that kills the consumer is counted and its neighbours are not.
            self._one_by_one(channel, batch)
            return
        try:
            answers = handler([(body, props.message_id, props.headers or {}) for _, props, body in batch])
        except Exception:
            # The database or a bug (one message the code cannot handle): the batch's
            # transaction rolled back. Apply its messages one a transaction instead, so a
            # single poison message does not send the good ones back to the queue forever.
            log.warning("a batch of %d from %s failed; applying them one by one", len(batch), self.queue, exc_info=True)
            self._one_by_one(channel, batch)
            return
        for (_, props, _), (answer, _accepted) in zip(batch, answers, strict=True):
            self._reply(answers_channel, props, answer)
        # The deliveries are acknowledged only once the broker has taken their answers
        # (tx.commit-ok); a connection lost before it discards them, and the redelivered
        # messages are recognised by their ids and answered again.
        answers_channel.tx_commit()
        channel.basic_ack(last, multiple=True)

    def _one_by_one(self, channel: BlockingChannel, batch: Sequence[tuple[Any, pika.BasicProperties, bytes]]) -> None:
        """Each delivery as the single-message path handles it; a transient failure is raised after all were tried.

        A message whose handling fails is returned to the queue (or dead-lettered after
        its last attempt) exactly as :meth:`_one` does; the others are answered and
        acknowledged, so a poison message holds up only itself.
        """
        failure: Exception | None = None
        for method, props, body in batch:
            try:
                self._one(channel, method.delivery_tag, props, body, redelivered=method.redelivered)
            except pika.exceptions.AMQPError:
                raise  # the broker connection: nothing more can be acknowledged on it
            except Exception as exc:  # raised below, after the others were handled
                if failure is None:
                    failure = exc
                else:
                    log.error("message %s from %s failed as well", props.message_id, self.queue, exc_info=True)
        if failure is not None:
            raise failure

    def _reply(self, channel: BlockingChannel, props: pika.BasicProperties, answer: bytes) -> None:
        reply = pika.BasicProperties(
            correlation_id=props.message_id, content_type=self.content_type, type="ack",
            delivery_mode=pika.DeliveryMode.Persistent,
        )  # fmt: skip
        if props.reply_to:
            channel.basic_publish("", props.reply_to, answer, properties=reply)
        else:
            channel.basic_publish(self.exchange, f"{self.channel_name}.ack", answer, properties=reply)

    def _one(
        self, channel: BlockingChannel, tag: int, props: pika.BasicProperties, body: bytes, *, redelivered: bool = False
    ) -> None:
        """Apply one delivery alone: answer and ack it, return it to the queue, or dead-letter it."""
        key = attempt_key(props.message_id, body)
        try:
            earlier = self.attempts.start(self.queue, key) if redelivered else Tried()
        except self.transient:
            channel.basic_nack(tag, requeue=True)  # the database is gone: nothing was tried, nothing counted
            raise
        if earlier.attempts >= self.max_attempts:  # its last attempts killed the consumer: not again
            log.error(
                "message %s from %s failed %d times (last: %s); dead-lettered to %s without applying it again",
                props.message_id, self.queue, earlier.attempts, earlier.error, self.dead_letter_queue,
            )  # fmt: skip
            self._settle_dead(channel, tag, props, body, key, earlier.error or "", earlier.attempts)
            return
        try:
            answer, _accepted = self.handler(body, props.message_id, props.headers or {})
        except self.transient:
            self._interrupted(key, redelivered=redelivered)
            channel.basic_nack(tag, requeue=True)  # not the message's fault: uncounted, raised
            raise
        except Exception as exc:  # noqa: BLE001 - not a refusal (those are answers): a bug on this message
            self._failed(channel, tag, props, body, key, exc)
            return
        if redelivered:
            self._settled(key, self.attempts.forget)  # applied and committed: answered and acked whatever happens
        self._reply(channel, props, answer)
        channel.basic_ack(tag)

    def _interrupted(self, key: str, *, redelivered: bool) -> None:
        if redelivered:
            self._settled(key, self.attempts.interrupted)

    def _settled(self, key: str, write: Callable[[str, str], None]) -> None:
        try:
            write(self.queue, key)
        except self.transient:  # the database is gone: the row stays "running", its next start counts it
            log.warning("could not write the end of an attempt at message %s from %s", key, self.queue, exc_info=True)

    def _failed(
        self, channel: BlockingChannel, tag: int, props: pika.BasicProperties, body: bytes, key: str, exc: Exception
    ) -> None:
        """Return a failed delivery to the queue, or dead-letter it after its last attempt."""
        error = f"{type(exc).__name__}: {exc}"[:4000]
        try:
            attempts = self.attempts.failed(self.queue, key, error)
        except Exception:
            channel.basic_nack(tag, requeue=True)  # not counted: it stays on the queue
            raise
        if attempts < self.max_attempts:
            log.warning(
                "message %s from %s failed (attempt %d of %d); back to the queue",
                props.message_id, self.queue, attempts, self.max_attempts, exc_info=True,
            )  # fmt: skip
            channel.basic_nack(tag, requeue=True)
            return
        log.error(
            "message %s from %s failed %d times; dead-lettered to %s",
            props.message_id, self.queue, attempts, self.dead_letter_queue, exc_info=exc,
        )  # fmt: skip
        self._settle_dead(channel, tag, props, body, key, error, attempts)

    def _settle_dead(
        self,
        channel: BlockingChannel,
        tag: int,
        props: pika.BasicProperties,
        body: bytes,
        key: str,
        error: str,
        attempts: int,
    ) -> None:
        try:
            self._dead_letter(channel, props, body, error, attempts)
        except Exception:
            channel.basic_nack(tag, requeue=True)  # not recorded: it stays on the queue
            raise
        channel.basic_ack(tag)
        # Forgotten only once acked: a consumer stopped before the ack gets it back with its count spent,
        # and dead-letters it again instead of applying it.
        self._settled(key, self.attempts.forget)

    def _dead_letter(
        self, channel: BlockingChannel, props: pika.BasicProperties, body: bytes, error: str, attempts: int
    ) -> None:
        """Record the letter, put it on the dead-letter queue and answer it (the caller acks and forgets it)."""
        letter = DeadLetter(
            queue=self.queue, message_id=props.message_id, body=body, headers=dict(props.headers or {}),
            error=error, attempts=attempts,
        )  # fmt: skip
        answer = self.dead_letters(letter) if self.dead_letters is not None else None
        dead = pika.BasicProperties(
            message_id=props.message_id, content_type=props.content_type, correlation_id=props.correlation_id,
            reply_to=props.reply_to, delivery_mode=pika.DeliveryMode.Persistent,
            headers={
                **letter.headers, "x-ebr-error": letter.error[:1000], "x-ebr-attempts": attempts,
                "x-ebr-queue": self.queue,
            },
        )  # fmt: skip
        channel.basic_publish("", self.dead_letter_queue, body, properties=dead)  # confirmed: confirm_delivery
        if answer is not None:
            self._reply(channel, props, answer)
