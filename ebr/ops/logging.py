"""Structured JSON logs with the request id and the acting user; secrets never logged.

One JSON object per line on stderr (journald and any log shipper read it as is):
``ts``, ``level``, ``logger``, ``message``, ``process`` (host:pid), ``request_id``
and ``user`` when a request is being served, any ``extra=`` fields, and
``exception`` with the traceback.

Secrets are kept out in two ways: request bodies, form fields and query strings are
never logged (the access line has the path only), and the formatter masks every
field whose name looks secret (password, secret, token, key, ...) and every
``name=value`` / ``"name": "value"`` pair of such a name inside a message, as a net
for messages that quote a value they should not.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import os
import re
import socket
import sys
from typing import Any

from ebr.core.clock import to_rfc3339

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("ebr_request_id", default=None)
user_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("ebr_user", default=None)

MASK = "***"
_SECRET_NAME = re.compile(r"pass(word|wd|phrase)?|secret|token|api[_-]?key|private[_-]?key|credential", re.I)
_SECRET_PAIR = re.compile(
    r"""(?P<name>["']?[\w-]*(?:pass(?:word|wd|phrase)?|secret|token|api[_-]?key|private[_-]?key|credential)[\w-]*["']?)"""
    r"""(?P<sep>\s*[:=]\s*)(?P<value>"[^"]*"|'[^']*'|[^\s,;&}]+)""",
    re.I,
)
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


def request_user() -> str | None:
    """The signed-in user of the Flask request being served, once the auth layer has looked it up."""
    try:
        from flask import g, has_request_context
    except ImportError:  # a process without the web stack (never in this project, but cheap)
        return None
    if not has_request_context():
        return None
    user: Any = g.get("ebr_user")
    return None if user is None else str(getattr(user, "user_id", user))


def is_secret_name(name: str) -> bool:
    """True for a field name that holds a password, key or token."""
    return bool(_SECRET_NAME.search(name))


def scrub_text(text: str) -> str:
    """Mask the values of secret-looking ``name=value`` pairs in free text."""
    return _SECRET_PAIR.sub(lambda m: f"{m['name']}{m['sep']}{MASK}", text)


def scrub(value: Any, name: str = "") -> Any:
    """Mask secret fields in a value destined for the log, recursively."""
    if name and is_secret_name(name):
        return MASK
    if isinstance(value, dict):
        return {str(k): scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return scrub_text(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return scrub_text(str(value))


class JsonFormatter(logging.Formatter):
    """Formats each record as one JSON line (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.process_name = f"{socket.gethostname()}:{os.getpid()}"

    def format(self, record: logging.LogRecord) -> str:
        moment = dt.datetime.fromtimestamp(record.created, dt.UTC)
        body: dict[str, Any] = {
            "ts": to_rfc3339(moment),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub_text(record.getMessage()),
            "process": self.process_name,
        }
        request_id, user = request_id_var.get(), user_var.get() or request_user()
        if request_id:
            body["request_id"] = request_id
        if user:
            body["user"] = user
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                body[key] = scrub(value, key)
        if record.exc_info:
            body["exception"] = scrub_text(self.formatException(record.exc_info))
        return json.dumps(body, default=str, ensure_ascii=False)


def configure_logging(level: str | int = "INFO", *, stream: Any = None) -> logging.Handler:
    """Send every log record to ``stream`` (default stderr) as JSON; returns the handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h.formatter, JsonFormatter)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # APScheduler logs every run at INFO; our runner already reports each outcome.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    return handler
