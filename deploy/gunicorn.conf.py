"""gunicorn configuration for the EBR web app in production (docs/operations.md).

Run: ``gunicorn --config deploy/gunicorn.conf.py`` with the ``EBR_*`` settings in
the environment (systemd: ``EnvironmentFile=/etc/ebr/ebr.env``).

* Several worker *processes*, each with threads: live pages hold a server-sent
  events stream open, which would pin a whole sync worker. Each worker builds its
  own engine after the fork (no ``preload_app``: a pool must not cross a fork).
* Bound to localhost; nginx terminates TLS in front (deploy/nginx/ebr.conf) and is
  the only peer trusted for X-Forwarded-* headers.
* Logs: gunicorn's own lines in the same JSON format as the app's; the app writes
  the access line itself (request id, user, no query string), so gunicorn's access
  log stays off.
* Metrics: ``PROMETHEUS_MULTIPROC_DIR`` makes every worker write its request
  latencies to shared files that ``/metrics`` aggregates; it is emptied at start
  and a dead worker's files are marked (prometheus-client's documented recipe).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

wsgi_app = "ebr.app:create_app()"
bind = os.environ.get("EBR_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("EBR_WEB_WORKERS", "4"))
worker_class = "gthread"
threads = int(os.environ.get("EBR_WEB_THREADS", "8"))
timeout = 60
graceful_timeout = 30
keepalive = 5
max_requests = 5000  # recycle workers now and then; jitter so they do not restart together
max_requests_jitter = 500
preload_app = False
forwarded_allow_ips = "127.0.0.1,::1"
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}
accesslog = None
errorlog = "-"
loglevel = os.environ.get("EBR_LOG_LEVEL", "info")
proc_name = "ebr-web"

logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "ebr.ops.logging.JsonFormatter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "root": {"level": loglevel.upper(), "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": loglevel.upper(), "handlers": ["stderr"], "propagate": False},
        "gunicorn.access": {"level": "WARNING", "handlers": ["stderr"], "propagate": False},
    },
}

# Set before any worker imports prometheus_client (it reads the variable at import).
_metrics_dir = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", str(Path(tempfile.gettempdir()) / f"ebr-metrics-{os.getpid()}")
)
raw_env = [f"PROMETHEUS_MULTIPROC_DIR={_metrics_dir}"]


def on_starting(server: Any) -> None:
    """Refuse to start without a fixed secret key; start with an empty metrics folder."""
    if not os.environ.get("EBR_SECRET_KEY"):
        # Each worker would invent its own key and reject the others' session cookies.
        raise SystemExit("EBR_SECRET_KEY is not set; set it (64 hex characters) in /etc/ebr/ebr.env")
    # Stale files from an earlier run would resurrect old counts.
    shutil.rmtree(_metrics_dir, ignore_errors=True)
    Path(_metrics_dir).mkdir(parents=True, mode=0o700)


def child_exit(server: Any, worker: Any) -> None:
    """Tell prometheus-client that a worker's live gauges are gone."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
