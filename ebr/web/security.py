"""Security headers on every response; CSRF for HEAD on form routes; the client's address.

A HEAD request is answered by the GET view, but a view that handles its form with
``if request.method == "GET": ... else: <change>`` would treat a HEAD with a form
body as the POST. flask-wtf checks only POST, PUT, PATCH and DELETE, so a HEAD to a
route that also takes one of those goes through the same CSRF check here.

The client's address (``request.remote_addr``; behind ``EBR_PROXY_HOPS`` trusted
reverse proxies, the address they forwarded) is handed to the login throttle
(:mod:`signatures.throttle`) for the duration of the request.

No field may hold a NUL character (PostgreSQL text cannot store one): such a request
is refused with 422 before any view runs, instead of failing in the database.

The Content-Security-Policy allows scripts, styles and connections from our own
origin only: no inline script, no inline style, no ``eval`` (htmx runs with
``allowEval: false`` and without its injected indicator styles, see ``base.html``),
no framing. Pages that show GMP data are never cached by the browser, so a shared
shop-floor tablet does not keep a batch record after logout.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request
from flask_wtf.csrf import CSRFError, validate_csrf
from flask_wtf.csrf import ValidationError as BadCsrfToken

from ebr.core.errors import ValidationError
from signatures.throttle import client_address

FORM_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NUL_MESSAGE = "the request contains a NUL character (\\0), which no field may hold; remove it and send again"

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


def head_through_csrf() -> None:
    """HEAD on a route that takes a form goes through the CSRF check (flask-wtf skips HEAD)."""
    if request.method != "HEAD" or request.url_rule is None or not current_app.config.get("WTF_CSRF_ENABLED", True):
        return
    if not (request.url_rule.methods or set()) & FORM_METHODS:
        return
    # CSRFProtect.protect() itself skips methods outside WTF_CSRF_METHODS: validate as it would.
    config = current_app.config
    token = request.form.get(config.get("WTF_CSRF_FIELD_NAME", "csrf_token"))
    for header in config.get("WTF_CSRF_HEADERS", ["X-CSRFToken", "X-CSRF-Token"]):
        token = token or request.headers.get(header)
    try:
        validate_csrf(token)
    except BadCsrfToken as exc:
        raise CSRFError(exc.args[0]) from None


def refuse_nul_characters() -> None:
    """No field may hold a NUL character: PostgreSQL text cannot store one (found by the API fuzzer)."""
    if "\x00" in request.path or any("\x00" in v for v in request.args.values()):
        raise ValidationError(NUL_MESSAGE)
    if request.mimetype == "multipart/form-data":
        found = any("\x00" in v for v in request.form.values())  # uploaded files may be binary
    else:
        data = request.get_data(cache=True)
        found = b"\x00" in data or b"\\u0000" in data
        if request.mimetype == "application/x-www-form-urlencoded":
            found = found or any("\x00" in v for v in request.form.values())
    if found:
        raise ValidationError(NUL_MESSAGE)


def remember_client() -> None:
    client_address.set(request.remote_addr)


def forget_client(_error: BaseException | None = None) -> None:
    client_address.set(None)


def register(app: Flask) -> None:
    """Attach the headers, the HEAD check and the client's address to every request of ``app``."""
    app.before_request(remember_client)
    app.before_request(head_through_csrf)
    app.before_request(refuse_nul_characters)
    app.teardown_request(forget_client)
    app.after_request(add_headers)
