"""The one place where our exceptions become HTTP statuses."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask.typing import ResponseReturnValue

from ebr import errors
from equipment import errors as equipment_errors

STATUS: tuple[tuple[type[errors.EbrError], int], ...] = (
    (equipment_errors.EquipmentNotFound, 404),
    (equipment_errors.EquipmentNotUsable, 409),
    (equipment_errors.StatusChangeRefused, 409),
    (equipment_errors.CommandRefused, 409),
    (equipment_errors.PermissiveFailed, 409),
    (equipment_errors.PlantConfigError, 422),
    (equipment_errors.DriverError, 503),
    (errors.ValidationError, 422),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.PermissionDenied, 403),
    (errors.StateError, 409),
    (errors.SignatureError, 403),
    (errors.DatabaseError, 503),
    (errors.ConfigError, 500),
)


def status_for(error: errors.EbrError) -> int:
    for cls, code in STATUS:
        if isinstance(error, cls):
            return code
    return 400


def wants_html() -> bool:
    """A browser page (not the JSON API, not a client asking for JSON)."""
    if request.path.startswith("/api/"):
        return False
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html" or bool(request.headers.get("HX-Request"))


def register(app: Flask) -> None:
    @app.errorhandler(errors.EbrError)
    def _ebr_error(error: errors.EbrError) -> ResponseReturnValue:
        if wants_html():
            # htmx swaps the fragment into the form's target; a full page otherwise.
            template = "_error.html" if request.headers.get("HX-Request") else "error.html"
            return render_template(template, error=error, status=status_for(error)), status_for(error)
        body: dict[str, object] = {"error": type(error).__name__, "message": error.message}
        if isinstance(error, errors.ValidationError):
            body["message"] = error.summary
            body["problems"] = error.problems
        return jsonify(body), status_for(error)
