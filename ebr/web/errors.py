"""The one place where errors become HTTP answers: our exceptions, HTTP errors, crashes.

A JSON client (the API, or a client asking for JSON) always gets the one error body
declared in the OpenAPI document (``ebr.api.schemas.ErrorOut``), built by
:func:`error_body`: ``{"error", "message", "problems"?, "accountability_url"?,
"retry_after"?}``. A browser gets a page in the app's layout with a way back (404,
403, 405, 500 …), or the error fragment for an htmx request. A 429 carries
``Retry-After``. An unexpected exception is logged with its traceback (by Flask) and
answered with a 500 that shows nothing of it.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException, InternalServerError

from ebr.core import errors
from equipment import errors as equipment_errors
from recipes.services import NotEffective
from signatures.errors import TooManyAttempts

STATUS: tuple[tuple[type[errors.EbrError], int], ...] = (
    (equipment_errors.EquipmentNotFound, 404),
    (equipment_errors.EquipmentNotUsable, 409),
    (equipment_errors.StatusChangeRefused, 409),
    (equipment_errors.CommandRefused, 409),
    (equipment_errors.PermissiveFailed, 409),
    (equipment_errors.PlantConfigError, 422),
    (equipment_errors.DriverError, 503),
    (TooManyAttempts, 429),
    (NotEffective, 409),  # no approved version is effective (yet): not possible now
    (errors.RecipeError, 422),
    (errors.ValidationError, 422),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.PermissionDenied, 403),
    (errors.StateError, 409),
    (errors.SignatureError, 403),
    (errors.DatabaseError, 503),
    (errors.ConfigError, 500),
)

TITLES = {
    400: "The request was not understood",
    401: "Please sign in",
    403: "Not permitted",
    404: "Not found",
    405: "Not possible this way",
    409: "Not possible now",
    422: "Please correct the input",
    429: "Too many attempts",
    500: "Something went wrong on our side",
    503: "Not available right now",
}


def status_for(error: errors.EbrError) -> int:
    for cls, code in STATUS:
        if isinstance(error, cls):
            return code
    return 400


def error_body(error: str, message: str, problems: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """The one JSON error body (``ErrorOut`` in the OpenAPI document); ``extra``: its optional fields."""
    body: dict[str, Any] = {"error": error, "message": message}
    if problems:
        body["problems"] = list(problems)
    body.update({key: value for key, value in extra.items() if value is not None})
    return body


def json_error(
    error: str, message: str, status: int, headers: dict[str, str] | None = None, **extra: Any
) -> ResponseReturnValue:
    """A JSON error response with :func:`error_body` (and ``Retry-After`` for a 429)."""
    body = error_body(error, message, **extra)
    headers = dict(headers or {})
    if "retry_after" in body:
        headers["Retry-After"] = str(body["retry_after"])
    return jsonify(body), status, headers


def wants_html() -> bool:
    """A browser page (not the JSON API, not a client asking for JSON)."""
    if request.path.startswith("/api/"):
        return False
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html" or bool(request.headers.get("HX-Request"))


def _page(
    status: int, message: str, problems: list[str] | None = None, headers: dict[str, str] | None = None
) -> ResponseReturnValue:
    # htmx swaps the fragment into the form's target; a full page otherwise.
    template = "_error.html" if request.headers.get("HX-Request") else "error.html"
    shown = {"message": message, "summary": message, "problems": problems or []}
    title = TITLES.get(status, "Not done")
    return render_template(template, error=shown, status=status, title=title), status, headers or {}


def ebr_error(error: errors.EbrError) -> ResponseReturnValue:
    """One of our exceptions, as a page or as the JSON error body."""
    status = status_for(error)
    retry = error.retry_after if isinstance(error, TooManyAttempts) else None
    problems = error.problems if isinstance(error, errors.ValidationError) else None
    message = error.summary if isinstance(error, errors.ValidationError) else error.message
    if wants_html():
        return _page(status, message, problems, {"Retry-After": str(retry)} if retry else None)
    return json_error(type(error).__name__, message, status, problems=problems, retry_after=retry)


def http_error(error: HTTPException) -> ResponseReturnValue:
    """A Werkzeug HTTP error (404, 405, bad request, a CSRF refusal …), as a page or JSON."""
    if error.code is None or error.code < 400:
        return error  # a routing redirect (e.g. the trailing slash), not an error
    status = error.code
    data = getattr(error, "data", None) or {}
    problems: list[str] = []
    for location, fields in (data.get("messages") or {}).items():
        problems += _flatten(fields, location)
    message = str(data.get("message") or error.description or error.name)
    if problems:
        message = "the request is not valid; see problems"
    allow = error.get_response().headers.get("Allow") if status == 405 else None
    headers = {"Allow": allow} if allow else None
    if wants_html():
        return _page(status, message, problems, headers)
    return json_error(error.name.replace(" ", ""), message, status, headers, problems=problems)


def crash(error: InternalServerError) -> ResponseReturnValue:
    """An unexpected exception (Flask has logged it in full): a 500 that shows nothing of it."""
    message = "an unexpected error occurred; it was logged. Try again, and tell the administrator if it persists"
    if wants_html():
        return _page(500, message)
    return json_error(InternalServerError.__name__, message, 500)


def _flatten(value: Any, path: str) -> list[str]:
    if isinstance(value, dict):
        return [p for key, inner in value.items() for p in _flatten(inner, f"{path}.{key}")]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [f"{path}: {v}" for v in value]
    if isinstance(value, list):
        return [p for index, inner in enumerate(value) for p in _flatten(inner, f"{path}[{index}]")]
    return [f"{path}: {value}"]


def register(app: Flask) -> None:
    app.register_error_handler(errors.EbrError, ebr_error)
    app.register_error_handler(HTTPException, http_error)
    # Flask logs an unhandled exception and hands it here as a 500 (tests, which propagate
    # exceptions, still see the real one).
    app.register_error_handler(InternalServerError, crash)
