"""The JSON API (flask-smorest): batches, steps, commands, entries, signatures, deviations,
materials, lots and genealogy. OpenAPI document at ``/api/openapi.json``.

Every endpoint requires a signed-in user (``POST /api/session`` or the UI login) and
the action from the one permission table (``signatures.permissions``). Every error is
the one body ``ErrorOut`` (``{"error", "message", "problems"?, ...}``, declared once in
the OpenAPI document and built by ``ebr.web.errors.error_body``) with a message a
person can act on.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_smorest import Api

from ebr.api.schemas import ErrorOut

API_CONFIG = {
    "API_TITLE": "EBR",
    "API_VERSION": "1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/api",
    "OPENAPI_JSON_PATH": "openapi.json",
}


class JsonApi(Api):  # type: ignore[misc]
    """flask-smorest's Api with our one error body as its ``Error`` schema, and without its
    app-wide HTTP error handler (``ebr.web.errors`` answers JSON under /api/ and HTML pages
    elsewhere)."""

    ERROR_SCHEMA = ErrorOut

    def _register_error_handlers(self) -> None:
        return None


def register(app: Flask) -> None:
    """Attach the API blueprints and run the engine's crash recovery once."""
    from ebr.analytics import api as analytics
    from ebr.api import batches, materials, records, samples, session
    from ebr.performance import api as performance

    for key, value in API_CONFIG.items():
        app.config.setdefault(key, value)
    spec: dict[str, Any] = {
        "components": {"securitySchemes": {"session": {"type": "apiKey", "in": "cookie", "name": "session"}}},
        "security": [{"session": []}],
    }
    app.config.setdefault("API_SPEC_OPTIONS", spec)
    api = JsonApi(app)
    csrf = app.extensions.get("csrf")
    for module in (session, batches, records, materials, samples, analytics, performance):
        # The API takes only JSON bodies (a cross-site form cannot send one without a CORS
        # preflight, which we never allow) and the session cookie is SameSite=Strict, so the
        # form CSRF token the UI uses is not required here.
        if csrf is not None:
            csrf.exempt(module.blp)
        api.register_blueprint(module.blp)
    session.recover_on_start(app)
