"""Flask application factory."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from ebr.bootstrap import Services, build_services
from ebr.core.config import Settings, load_settings
from ebr.ops.roles import guard_production
from ebr.web import register_blueprints


def create_app(config: Settings | Mapping[str, Any] | None = None, *, services: Services | None = None) -> Flask:
    """Build the web application.

    ``config`` is a :class:`Settings`, or a mapping of setting overrides applied to
    the environment's settings (tests pass ``{"database_url": ...}``).
    """
    if services is None:
        settings = config if isinstance(config, Settings) else load_settings(**dict(config or {}))
        services = build_services(settings)
    settings = services.settings
    guard_production(settings, services.engine)  # never as the table owner or a superuser (docs/operations.md)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key or secrets.token_hex(32),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        TESTING=settings.testing,
        # CSRF tokens live as long as the session (the idle timeout ends it), not one hour.
        WTF_CSRF_TIME_LIMIT=None,
    )
    if settings.proxy_hops:
        # Behind N trusted reverse proxies the client is the address they forwarded (login throttle).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops)  # type: ignore[method-assign]
    CSRFProtect(app)
    app.extensions["ebr"] = services
    register_blueprints(app)
    return app


def services_of(app: Flask) -> Services:
    """The services the app was built with (the web layer's one registry)."""
    services: Services = app.extensions["ebr"]
    return services
