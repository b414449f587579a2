"""Web layer: blueprints that parse, authorize, call one service and render."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    """Attach every blueprint and the error handlers to ``app``."""
    from ebr.web import errors
    from ebr.accounts import web_auth as auth
    from ebr.ops import web as health
    from ebr.ops import web_metrics as metrics

    app.register_blueprint(health.bp)
    metrics.register(app)
    app.register_blueprint(auth.bp)
    errors.register(app)
    from ebr.web import pages

    pages.register(app)
    from ebr.records import web as record_views

    app.register_blueprint(record_views.bp)
    from ebr import api

    api.register(app)
    from ebr.integration import api as integration_api
    from ebr.integration import web as integration_web

    app.register_blueprint(integration_web.bp)
    app.register_blueprint(integration_api.bp)
    csrf = app.extensions.get("csrf")
    if csrf is not None:  # a machine posts XML with its token; there is no browser session to forge
        csrf.exempt(integration_api.bp)
