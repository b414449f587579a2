"""Registers the browser UI: shell, security headers, live streams and every page area."""

from __future__ import annotations

import importlib

from flask import Flask

# One blueprint per area; an area whose service has not been built yet is simply absent.
AREAS = (
    "ebr.web.live",
    "ebr.web.audit_views",
    "ebr.web.admin",
    "ebr.web.equipment_views",
    "ebr.web.alarms",
    "ebr.web.worklist",
    "ebr.web.execute",
    "ebr.web.corrections",
    "ebr.web.review",
    "ebr.web.samples",
    "ebr.web.recipes_views",
    "ebr.analytics.web",
    "ebr.performance.web",
)


def register(app: Flask) -> None:
    """Attach the UI to ``app`` (called from ``ebr.web.register_blueprints``)."""
    from ebr.web import security, ui

    ui.register(app)
    security.register(app)
    for name in AREAS:
        app.register_blueprint(importlib.import_module(name).bp)
