"""Pluggable alerting for security events (an account locked after repeated failures).

:class:`LogNotifier` always logs; :class:`WebhookNotifier` also POSTs a JSON body
to ``EBR_ALERT_WEBHOOK_URL``. A notifier is called after the event is committed.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Mapping
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


class WebhookNotifier(LogNotifier):
    """Logs, then POSTs ``{"event": ..., "details": ...}`` as JSON to ``url``."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        super().__init__()
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"alert webhook {url!r} must be an http(s) URL")
        self.url = url
        self.timeout = timeout

    def alert(self, event: str, details: Mapping[str, Any]) -> None:
        super().alert(event, details)
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
