"""The watched folder (orders in, answers out) and the HTTP transport against a real local HTTP server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from ebr.bootstrap import Services
from ebr.integration.b2mml import safe_root
from ebr.integration.setup import Wiring
from ebr.integration.transports import DeliveryError, HttpTransport
from tests.integration.integration.conftest import add_materials, counts, example


@pytest.mark.requirement("URS-INT-001", "URS-INT-002")
def test_the_watched_folder_applies_answers_and_moves_each_file(erp: Wiring, services: Services) -> None:
    add_materials(services, "API-1")
    folder = erp.settings.channel("erp").folder
    for sub in ("in", "out", "done", "refused"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / "in" / "a-order.xml").write_bytes(example("v0701-sync-operations-schedule.xml"))
    (folder / "in" / "b-broken.xml").write_bytes(b"<SyncOperationsSchedule")
    (folder / "in" / ".c-partial.xml").write_bytes(b"<half")
    done = erp.import_folder()
    assert [(path.parent.name, path.name, receipt.accepted) for path, receipt in done] == [
        ("done", "a-order.xml", True),
        ("refused", "b-broken.xml", False),
    ]
    assert safe_root((folder / "out" / "ack-a-order.xml").read_bytes()).findtext(".//{*}Description") == "accepted"
    assert safe_root((folder / "out" / "ack-b-broken.xml").read_bytes()).findtext(".//{*}Description") == "error"
    assert (folder / "in" / ".c-partial.xml").exists()  # a file still being written is left alone
    assert counts(services)["integration_order"] == 1


@dataclass
class Sent:
    message_id: str
    channel: str
    kind: str
    content_type: str
    body: str


class Receiver(BaseHTTPRequestHandler):
    answers: ClassVar[list[int]] = []
    seen: ClassVar[list[tuple[str | None, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.seen.append((self.headers.get("X-Message-Id"), body))
        self.send_response(self.answers.pop(0) if self.answers else 204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Receiver.answers.clear()
    Receiver.seen.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}/b2mml"
    server.shutdown()
    server.server_close()


def test_http_delivers_on_2xx_and_fails_otherwise_under_the_same_id(receiver: str) -> None:
    transport = HttpTransport(receiver, timeout=5)
    message = Sent("M-1", "erp", "order_status", "application/xml", "<x/>")
    Receiver.answers.extend([503])
    with pytest.raises(DeliveryError, match="HTTP 503"):
        transport.send(message)
    transport.send(message)
    assert Receiver.seen == [("M-1", b"<x/>"), ("M-1", b"<x/>")]
    with pytest.raises(DeliveryError, match="did not answer"):
        HttpTransport("http://127.0.0.1:9/none", timeout=1).send(message)
