"""The services an app was built with: the web layer's one registry.

It lives here, not in ``ebr.app``, so that blueprints and API helpers can reach the services
without importing the app factory, which imports them (that was an import circle).
"""

from __future__ import annotations

from flask import Flask, current_app

from ebr.bootstrap import Services

EXTENSION = "ebr"  # the key of ``app.extensions`` the app factory stores the services under


def services_of(app: Flask) -> Services:
    """The services ``app`` was built with."""
    services: Services = app.extensions[EXTENSION]
    return services


def services() -> Services:
    """The services of the app handling this request."""
    return services_of(current_app)
