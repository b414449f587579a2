"""``GET /healthz``: database reachability and migration state (503 when not healthy)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from ebr import schema

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    services = current_app.extensions["ebr"]
    state = schema.status(services.engine)
    body = {
        "status": "ok" if state.at_head else "unavailable",
        "database": {"reachable": state.reachable, "error": state.error},
        "schema": {
            "at_head": state.at_head,
            "current": sorted(state.current),
            "heads": sorted(state.heads),
            "detail": state.describe(),
        },
    }
    return jsonify(body), 200 if state.at_head else 503
