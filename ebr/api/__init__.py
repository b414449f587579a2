"""The JSON API (flask-smorest): what every feature's ``api.py`` shares. The endpoints live in
the feature packages (batches, steps, commands and entries in ``ebr.execution``, materials
in ``ebr.materials``, …), attached by ``ebr.features``. OpenAPI document at ``/api/openapi.json``.

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


def install(app: Flask) -> JsonApi:
    """The API object of ``app`` (its OpenAPI document); the features add their blueprints."""
    for key, value in API_CONFIG.items():
        app.config.setdefault(key, value)
    spec: dict[str, Any] = {
        "components": {"securitySchemes": {"session": {"type": "apiKey", "in": "cookie", "name": "session"}}},
        "security": [{"session": []}],
    }
    app.config.setdefault("API_SPEC_OPTIONS", spec)
    return JsonApi(app)
