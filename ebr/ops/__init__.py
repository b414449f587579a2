"""Running the system in production: logging, metrics, health, backup and restore, database roles.

Adapters: ``web`` (``/healthz``), ``web_metrics`` (``/metrics`` and the request hooks),
``cli`` (``ebr backup/restore/scheduler``), ``cli_db`` (``ebr db``), ``cli_records``
(records reconciliation commands).
"""
