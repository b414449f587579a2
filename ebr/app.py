"""Flask application factory."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from ebr import api, features, schema
from ebr.bootstrap import Services, build_services
from ebr.core.config import Settings, load_settings
from ebr.core.db import unit_of_work
from ebr.execution.service import build as build_execution
from ebr.ops.roles import guard_production
from ebr.web import errors, security, ui
from ebr.web.registry import EXTENSION


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
    app.extensions[EXTENSION] = services  # read back by ebr.web.registry, never by importing this module
    # The features' pages first: ebr.ops installs the request-id and timing hooks, which must
    # run before the security hooks (a refused request is timed and carries its id too).
    features.register_web(app)
    errors.register(app)
    ui.register(app)
    security.register(app)
    features.register_api(app, api.install(app))
    _recover_batches(services)
    return app


def _recover_batches(services: Services) -> None:
    """Engine start: batches continue where they were; uncertain automated phases go to Held."""
    if not schema.status(services.engine).at_head:
        return  # `ebr db upgrade` first; recovery runs at the next start
    with unit_of_work(services.session_factory) as db:
        build_execution(services).recover(db)
