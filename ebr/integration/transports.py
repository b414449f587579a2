"""How messages leave: a watched folder, RabbitMQ (AMQP 0-9-1 through pika), HTTP.

Every transport has one method, ``send(message)``, that returns only once the other
side has the message (the file renamed into place, the broker's publisher confirm, a
2xx answer) and raises :class:`DeliveryError` otherwise; the worker retries. A message
keeps its id on every attempt (AMQP ``message_id``, the file name, the
``X-Message-Id`` header), so a consumer that sees it twice can tell. How messages
arrive over AMQP is :mod:`ebr.integration.consumer`; the folder is read by
:meth:`FolderTransport.incoming`.
"""

from __future__ import annotations

import logging
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from ebr.core.errors import EbrError

log = logging.getLogger(__name__)


class DeliveryError(EbrError):
    """The other side did not take the message (the worker retries it)."""


class Message(Protocol):
    """What a transport needs of an outbox row."""

    message_id: str
    channel: str
    kind: str
    content_type: str
    body: str


class Transport(Protocol):
    def send(self, message: Message) -> None: ...

    def close(self) -> None: ...


def _suffix(content_type: str) -> str:
    return ".json" if content_type.endswith("json") else ".xml"


class FolderTransport:
    """Files in ``folder/out`` (outbound) and ``folder/in`` (inbound), for plants that exchange files."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        for sub in ("in", "out", "done", "refused"):
            (folder / sub).mkdir(parents=True, exist_ok=True)

    def send(self, message: Message) -> None:
        """Write ``out/<kind>-<message id>.xml`` atomically (a repeat overwrites the same file)."""
        target = (
            self.folder
            / "out"
            / f"{message.channel}-{message.kind}-{message.message_id}{_suffix(message.content_type)}"
        )
        partial = target.with_name(f".{target.name}.partial")
        try:
            partial.write_text(message.body, encoding="utf-8")
            os.replace(partial, target)
        except OSError as exc:
            raise DeliveryError(f"cannot write {target}: {exc.strerror}; check the folder's space and rights") from exc

    def incoming(self, pattern: str = "*.xml") -> Iterator[Path]:
        """The files waiting in ``in/``, oldest name first (hidden and partial files are skipped)."""
        yield from sorted(p for p in (self.folder / "in").glob(pattern) if not p.name.startswith("."))

    def finish(self, path: Path, answer: bytes, *, accepted: bool) -> Path:
        """Write the answer to ``out/ack-<name>`` and move the file to ``done/`` or ``refused/``."""
        (self.folder / "out" / f"ack-{path.name}").write_bytes(answer)
        moved = self.folder / ("done" if accepted else "refused") / path.name
        os.replace(path, moved)
        return moved

    def close(self) -> None:
        return None


class AmqpTransport:
    """Publishes to a RabbitMQ topic exchange with publisher confirms (routing key ``<channel>.<kind>``).

    The exchange and a durable queue bound to it (``<channel>.#``) are declared on
    connect, so a message confirmed by the broker is stored even before the ERP's
    consumer first connects.
    """

    def __init__(self, url: str, *, exchange: str, queue: str, channel: str, timeout: float = 5.0) -> None:
        self.parameters = pika.URLParameters(url)
        self.parameters.socket_timeout = timeout
        self.parameters.blocked_connection_timeout = timeout
        self.parameters.connection_attempts = 1
        self.exchange, self.queue, self.channel_name = exchange, queue, channel
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None

    def _open(self) -> BlockingChannel:
        if self._channel is not None and self._channel.is_open:
            return self._channel
        self.close()
        self._connection = pika.BlockingConnection(self.parameters)
        channel = self._connection.channel()
        channel.confirm_delivery()
        channel.exchange_declare(self.exchange, exchange_type="topic", durable=True)
        channel.queue_declare(self.queue, durable=True)
        channel.queue_bind(self.queue, self.exchange, routing_key=f"{self.channel_name}.#")
        self._channel = channel
        return channel

    def send(self, message: Message) -> None:
        properties = pika.BasicProperties(
            message_id=message.message_id,
            content_type=message.content_type,
            type=message.kind,
            delivery_mode=pika.DeliveryMode.Persistent,
        )
        try:
            self._open().basic_publish(
                self.exchange,
                f"{message.channel}.{message.kind}",
                message.body.encode(),
                properties=properties,
                mandatory=True,
            )
        except (pika.exceptions.AMQPError, OSError) as exc:
            self.close()
            raise DeliveryError(f"RabbitMQ did not confirm message {message.message_id}: {exc!r}") from exc

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except (pika.exceptions.AMQPError, OSError):
                log.debug("closing a broken AMQP connection failed", exc_info=True)


class HttpTransport:
    """POSTs each message to a URL; any 2xx answer is a delivery."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise EbrError(f"{url!r} is not an http(s) URL")
        self.url, self.timeout = url, timeout

    def send(self, message: Message) -> None:
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            self.url,
            data=message.body.encode(),
            method="POST",
            headers={"Content-Type": message.content_type, "X-Message-Id": message.message_id, "X-Kind": message.kind},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - checked scheme
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (urllib.error.URLError, OSError) as exc:
            raise DeliveryError(f"{self.url} did not answer: {exc}") from exc
        if not 200 <= status < 300:
            raise DeliveryError(f"{self.url} answered HTTP {status}")

    def close(self) -> None:
        return None
