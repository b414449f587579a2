"""Security headers on every response.

The Content-Security-Policy allows scripts, styles and connections from our own
origin only: no inline script, no inline style, no ``eval`` (htmx runs with
``allowEval: false`` and without its injected indicator styles, see ``base.html``),
no framing. Pages that show GMP data are never cached by the browser, so a shared
shop-floor tablet does not keep a batch record after logout.
"""

from __future__ import annotations

from flask import Flask, Response

CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

HEADERS: dict[str, str] = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def add_headers(response: Response) -> Response:
    """Set the security headers (without overriding a view that set its own)."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if response.mimetype in {"text/html", "text/event-stream", "application/json"}:
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def register(app: Flask) -> None:
    """Attach the headers to every response of ``app``."""
    app.after_request(add_headers)
