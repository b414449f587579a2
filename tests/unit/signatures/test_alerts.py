"""Lockout alerts reach the log and the webhook."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from signatures.alerts import WebhookNotifier


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, object]]]]:
    received: list[dict[str, object]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts", received
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.mark.requirement("URS-SEC-004")
def test_a_lockout_alert_is_posted_to_the_webhook(webhook: tuple[str, list[dict[str, object]]]) -> None:
    url, received = webhook
    WebhookNotifier(url).alert("auth.locked", {"user_id": "olga", "failed_attempts": 5})
    assert received == [{"event": "auth.locked", "details": {"user_id": "olga", "failed_attempts": 5}}]


def test_a_dead_webhook_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    from tests.support.slapd import free_port

    WebhookNotifier(f"http://127.0.0.1:{free_port()}/", timeout=1).alert("auth.locked", {"user_id": "olga"})
    assert "alert webhook" in caplog.text
    assert "security alert auth.locked" in caplog.text
