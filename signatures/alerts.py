"""Pluggable alerting: security events (an account locked) and operations (a broken chain,
a timed hold overrun, calibration overdue).

:class:`LogNotifier` always logs; :class:`WebhookNotifier` also POSTs a JSON body to
``EBR_ALERT_WEBHOOK_URL``; :class:`EmailNotifier` also mails ``EBR_ALERT_EMAIL_TO``
through the relay ``EBR_ALERT_SMTP_URL``; :class:`Notifiers` does several. A notifier
is called after the event is committed, and a channel that fails is logged, never
raised: the alert must not undo what it reports.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from typing import Any, Protocol

log = logging.getLogger("ebr.security")


class Notifier(Protocol):
    """Something that tells people about a security event."""

    def alert(self, event: str, details: Mapping[str, Any]) -> None: ...


class LogNotifier:
    """Writes the alert to the ``ebr.security`` log at WARNING level."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def alert(self, event: str, details: Mapping[str, Any]) -> None:
        self.sent.append((event, dict(details)))
        log.warning("security alert %s: %s", event, json.dumps(dict(details), sort_keys=True, default=str))
        self.deliver(event, details)

    def deliver(self, event: str, details: Mapping[str, Any]) -> None:
        """Send the alert on this notifier's channel (the log alone: nothing more)."""


class WebhookNotifier(LogNotifier):
    """Logs, then POSTs ``{"event": ..., "details": ...}`` as JSON to ``url``."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        super().__init__()
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"alert webhook {url!r} must be an http(s) URL")
        self.url = url
        self.timeout = timeout

    def deliver(self, event: str, details: Mapping[str, Any]) -> None:
        body = json.dumps({"event": event, "details": dict(details)}, default=str).encode()
        request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
            self.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout):  # noqa: S310 - scheme checked
                pass
        except OSError as exc:
            # The lock itself is committed and audited; a dead webhook must not undo it.
            log.error("alert webhook %s failed: %s", self.url, exc)


class EmailNotifier(LogNotifier):
    """Logs, then mails the alert to ``to`` through the SMTP relay ``url``.

    ``smtp://relay:25`` (plain, a plant relay), ``smtp+starttls://user:password@relay:587``
    or ``smtps://user:password@relay:465``; TLS verifies the relay's certificate.
    """

    def __init__(self, url: str, *, to: Sequence[str], sender: str, timeout: float = 10.0) -> None:
        super().__init__()
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("smtp", "smtp+starttls", "smtps") or not parts.hostname:
            where = parts.hostname or url.split("@")[-1]  # never the password
            raise ValueError(f"alert mail relay {where!r} must be an smtp://, smtp+starttls:// or smtps:// URL")
        self.scheme, self.host = parts.scheme, parts.hostname
        self.port = parts.port or {"smtp": 25, "smtp+starttls": 587, "smtps": 465}[parts.scheme]
        self.user = urllib.parse.unquote(parts.username) if parts.username else None
        self.password = urllib.parse.unquote(parts.password or "")
        self.to, self.sender, self.timeout = tuple(to), sender, timeout

    def message(self, event: str, details: Mapping[str, Any]) -> EmailMessage:
        """The mail: the event in the subject, every detail on its own line, then the JSON."""
        mail = EmailMessage()
        mail["Subject"] = f"[EBR alert] {event}"
        mail["From"], mail["To"] = self.sender, ", ".join(self.to)
        lines = [f"{key}: {value}" for key, value in sorted(dict(details).items())]
        body = json.dumps({"event": event, "details": dict(details)}, sort_keys=True, default=str)
        mail.set_content(f"EBR alert: {event}\n\n" + "\n".join(lines) + f"\n\n{body}\n")
        return mail

    def deliver(self, event: str, details: Mapping[str, Any]) -> None:
        try:
            if self.scheme == "smtps":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with client:
                if self.scheme == "smtp+starttls":
                    client.starttls(context=ssl.create_default_context())
                if self.user:
                    client.login(self.user, self.password)
                client.send_message(self.message(event, details))
        except (OSError, smtplib.SMTPException) as exc:
            log.error("alert mail to %s via %s:%s failed: %s", ", ".join(self.to), self.host, self.port, exc)


class Notifiers(LogNotifier):
    """Logs once, then delivers on every channel (webhook and mail)."""

    def __init__(self, *channels: LogNotifier) -> None:
        super().__init__()
        self.channels = channels

    def deliver(self, event: str, details: Mapping[str, Any]) -> None:
        for channel in self.channels:
            channel.deliver(event, details)
