"""Scheduled jobs: the ``ebr scheduler`` process, its job definitions and the run guard.

Layout:

* ``models``: the scheduler's tables (APScheduler's job store, the per-job run
  ledger and the process heartbeats).
* ``guards``: "only one process runs this job now" (PostgreSQL advisory lock,
  file lock on SQLite).
* ``runner``: runs one job once per scheduled slot, retries, records and reports.
* ``definitions``: the built-in jobs, each a thin call into a domain service.
* ``scheduler``: APScheduler wiring for the ``ebr scheduler`` process.
"""
