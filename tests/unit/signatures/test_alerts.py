"""Alerts reach the log, the webhook and, through a real SMTP server (aiosmtpd), people's mailboxes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from ebr.core.config import load_settings
from signatures.alerts import EmailNotifier, LogNotifier, Notifiers, WebhookNotifier
from signatures.factory import build_notifier


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


class Mailbox:
    """What a real SMTP server (aiosmtpd) received: (envelope sender, recipients, message)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], EmailMessage]] = []

    async def handle_DATA(self, _server: object, _session: object, envelope: Any) -> str:  # noqa: N802 - aiosmtpd API
        message = BytesParser(policy=policy.default).parsebytes(envelope.content)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, Mailbox]]:
    from aiosmtpd.controller import Controller

    from tests.support.slapd import free_port

    mailbox, port = Mailbox(), free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, mailbox
    finally:
        controller.stop()


@pytest.mark.requirement("URS-SEC-004")
def test_an_alert_is_mailed_to_every_recipient_through_the_relay(smtp: tuple[int, Mailbox]) -> None:
    port, mailbox = smtp
    notifier = EmailNotifier(
        f"smtp://127.0.0.1:{port}", to=["qa@plant.example", "it@plant.example"], sender="ebr@plant"
    )
    notifier.alert("auth.locked", {"user_id": "olga", "failed_attempts": 5})
    [(sender, recipients, message)] = mailbox.received
    assert (sender, recipients) == ("ebr@plant", ["qa@plant.example", "it@plant.example"])
    assert message["Subject"] == "[EBR alert] auth.locked"
    body = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "user_id: olga" in body
    assert "failed_attempts: 5" in body
    assert notifier.sent == [("auth.locked", {"user_id": "olga", "failed_attempts": 5})]


def test_a_dead_mail_relay_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    from tests.support.slapd import free_port

    notifier = EmailNotifier(f"smtp://127.0.0.1:{free_port()}", to=["qa@plant"], sender="ebr@plant", timeout=1)
    notifier.alert("audit.chain.broken", {"first_broken_seq": 7})
    assert "alert mail to qa@plant via 127.0.0.1" in caplog.text
    assert "security alert audit.chain.broken" in caplog.text


def test_the_installation_alerts_on_every_configured_channel(
    smtp: tuple[int, Mailbox], webhook: tuple[str, list[dict[str, object]]]
) -> None:
    port, mailbox = smtp
    url, posted = webhook
    assert type(build_notifier(load_settings({}))) is LogNotifier
    env = {"EBR_ALERT_WEBHOOK_URL": url, "EBR_ALERT_SMTP_URL": f"smtp://127.0.0.1:{port}", "EBR_ALERT_EMAIL_TO": "qa@p"}
    notifier = build_notifier(load_settings(env))
    assert isinstance(notifier, Notifiers)
    notifier.alert("equipment.calibration.overdue", {"unit": "SC-01"})
    assert posted == [{"event": "equipment.calibration.overdue", "details": {"unit": "SC-01"}}]
    assert [m["Subject"] for _f, _t, m in mailbox.received] == ["[EBR alert] equipment.calibration.overdue"]
    assert notifier.sent == [("equipment.calibration.overdue", {"unit": "SC-01"})]
