"""``GET /metrics`` (Prometheus text format), request ids, request latency and the access log.

Every app gets its own ``CollectorRegistry`` (nothing is registered globally, so
two apps in one process, as in the tests, never collide): the database collector
of :mod:`ebr.ops.metrics` and a request-latency histogram.

Under gunicorn each worker is a process. When ``PROMETHEUS_MULTIPROC_DIR`` is set
(``deploy/gunicorn.conf.py`` does it) the histogram is kept in prometheus-client's
multi-process files and ``/metrics`` aggregates every worker's, so a scrape through
any worker sees all requests.

Each request gets an id (the caller's ``X-Request-ID`` when it is a sane token,
else a new one), returned in the response header and put in every log line of the
request, with the acting user once known. The access line has method, path (never
the query string), status, duration and the request thread's CPU time: no body, form field or header value, so a
password typed at login cannot reach the log.
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest, multiprocess

from ebr.ops.logging import request_id_var, request_user, user_var
from ebr.ops.metrics import DatabaseCollector
from ebr.web.access import public

bp = Blueprint("metrics", __name__)
log = logging.getLogger("ebr.web.access")
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's own variable


def _multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def _registry(app: Flask) -> CollectorRegistry:
    """The registry a scrape reads: per app, or aggregated over every gunicorn worker."""
    if not _multiprocess():
        registry: CollectorRegistry = app.extensions["ebr_metrics"]
        return registry
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    registry.register(DatabaseCollector(app.extensions["ebr"]))
    return registry


@bp.get("/metrics")
@public  # counts only, no GMP content; deploy/nginx-ebr.conf lets only the monitoring hosts reach it
def metrics() -> Response:
    return Response(generate_latest(_registry(current_app)), mimetype=CONTENT_TYPE_LATEST)


def _start() -> None:
    g.ebr_started = time.perf_counter()
    g.ebr_cpu_started = time.thread_time()
    supplied = request.headers.get("X-Request-ID", "")
    g.ebr_request_id = supplied if _SANE_ID.match(supplied) else uuid.uuid4().hex
    g.ebr_log_tokens = (request_id_var.set(g.ebr_request_id), user_var.set(None))


def _finish(latency: Histogram, response: Response) -> Response:
    elapsed = time.perf_counter() - g.get("ebr_started", time.perf_counter())
    # This thread's CPU time: what the request cost the web process, apart from waiting
    # (for the database, or for a CPU the machine's other work holds).
    cpu = time.thread_time() - g.get("ebr_cpu_started", time.thread_time())
    endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
    latency.labels(request.method, endpoint, str(response.status_code)).observe(elapsed)
    response.headers["X-Request-ID"] = g.get("ebr_request_id", "")
    user_var.set(request_user())
    if endpoint not in {"/metrics", "/healthz"}:
        log.info(
            "%s %s %d",
            request.method,
            request.path,
            response.status_code,
            extra={
                "duration_ms": round(elapsed * 1000, 2),
                "cpu_ms": round(cpu * 1000, 2),
                "status": response.status_code,
            },
        )
    return response


def _end(_error: BaseException | None) -> None:
    tokens = g.pop("ebr_log_tokens", None)
    if tokens is not None:
        request_id_var.reset(tokens[0])
        user_var.reset(tokens[1])


def register(app: Flask) -> None:
    """Attach ``/metrics``, the request-id and latency hooks and this app's registry."""
    registry = CollectorRegistry()
    # In multi-process mode the values go to the shared files, not to a registry.
    latency = Histogram(
        "ebr_http_request_duration_seconds",
        "Time to answer an HTTP request",
        ["method", "endpoint", "status"],
        buckets=_BUCKETS,
        registry=None if _multiprocess() else registry,
    )
    registry.register(DatabaseCollector(app.extensions["ebr"]))
    app.extensions["ebr_metrics"] = registry
    app.before_request(_start)
    app.after_request(lambda response: _finish(latency, response))
    app.teardown_request(_end)
    app.register_blueprint(bp)
