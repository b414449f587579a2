"""Registers the browser UI: shell, security headers, live streams and every page area."""

from __future__ import annotations

import importlib

from flask import Flask

# One blueprint per area; an area whose service has not been built yet is simply absent.
AREAS = (
    "ebr.execution.web_live",
    "ebr.trail.web",
    "ebr.accounts.web_admin",
    "ebr.plant.web",
    "ebr.plant.web_alarms",
    "ebr.execution.web_worklist",
    "ebr.execution.web",
    "ebr.execution.web_corrections",
    "ebr.review.web",
    "ebr.execution.web_samples",
    "ebr.authoring.web",
    "ebr.analytics.web",
)


def register(app: Flask) -> None:
    """Attach the UI to ``app`` (called from ``ebr.web.register_blueprints``)."""
    from ebr.web import security, ui

    ui.register(app)
    security.register(app)
    for name in AREAS:
        app.register_blueprint(importlib.import_module(name).bp)
