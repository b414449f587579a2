"""``GET /healthz``: database reachability and migration state (503 when not healthy).

When the schema is at head it also reports the installation's checks
(``ebr.ops.health``: equipment runtime, scheduler, last audit chain verification,
failing jobs) under ``checks`` and lists the failing ones in ``degraded``; those
never turn the answer into a 503 (the web app can still serve).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from ebr import schema
from ebr.ops.health import installation_checks

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    services = current_app.extensions["ebr"]
    state = schema.status(services.engine)
    body: dict[str, Any] = {
        "status": "ok" if state.at_head else "unavailable",
        "database": {"reachable": state.reachable, "error": state.error},
        "schema": {
            "at_head": state.at_head,
            "current": sorted(state.current),
            "heads": sorted(state.heads),
            "detail": state.describe(),
        },
    }
    if state.at_head:
        checks = installation_checks(services)
        body["checks"] = checks
        body["degraded"] = sorted(name for name, check in checks.items() if not check["ok"])
    return jsonify(body), 200 if state.at_head else 503
