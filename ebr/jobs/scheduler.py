"""The ``ebr scheduler`` process: APScheduler 3 with a persistent SQLAlchemy job store.

Every job of :mod:`ebr.jobs.definitions` is stored in ``apscheduler_jobs`` (shared
by every scheduler on the database) with an interval trigger anchored at
:data:`ebr.jobs.runner.ANCHOR`, so all hosts fire on the same grid. APScheduler
persists a job by the *textual reference* of its function, hence the module-level
:func:`dispatch`; it hands the job's name to the :class:`JobRunner` this process
bound at start, which guards, de-duplicates, retries and records the run.

The heartbeat is a per-process job in a memory store: each process proves its own
life, it must not be de-duplicated.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import delete, select

from ebr.bootstrap import Services
from ebr.core.clock import UTC
from ebr.core.db import unit_of_work
from ebr.jobs.guards import guard_for
from ebr.jobs.models import ApschedulerJob, SchedulerHeartbeat
from ebr.jobs.runner import ANCHOR, JobRunner, JobSpec, RunReport, process_name

log = logging.getLogger("ebr.jobs")
HEARTBEAT_EVERY = dt.timedelta(seconds=30)
STOP_POLL_SECONDS = 0.2
"""How often the scheduler command's main thread looks for a stop signal its handler noted."""
HEARTBEAT_KEEP = dt.timedelta(days=1)


@dataclass
class _Bound:
    """The runner of this process; set by :func:`build_scheduler`, read by :func:`dispatch`."""

    runner: JobRunner | None = None


_BOUND = _Bound()


def dispatch(name: str) -> RunReport:
    """Entry point stored in the job store: run job ``name`` with this process's runner."""
    if _BOUND.runner is None:
        raise RuntimeError("no job runner is bound in this process; start it with `ebr scheduler`")
    return _BOUND.runner.run(name)


def beat(services: Services, process: str, started_at: dt.datetime) -> None:
    """Record that scheduler ``process`` is alive; forget processes silent for a day."""
    now = services.clock.now()
    with unit_of_work(services.session_factory) as session:
        row = session.get(SchedulerHeartbeat, process)
        if row is None:
            session.add(SchedulerHeartbeat(process=process, started_at=started_at, seen_at=now))
        else:
            row.seen_at = now
        session.execute(delete(SchedulerHeartbeat).where(SchedulerHeartbeat.seen_at < now - HEARTBEAT_KEEP))


def last_heartbeat(services: Services) -> dt.datetime | None:
    """When the most recently seen scheduler process was last alive (None: never)."""
    with services.session_factory() as session:
        return session.scalar(select(SchedulerHeartbeat.seen_at).order_by(SchedulerHeartbeat.seen_at.desc()).limit(1))


def _on_event(event: JobExecutionEvent) -> None:
    if event.code == EVENT_JOB_ERROR:
        # The runner records job failures itself; reaching here means the ledger or
        # the guard failed (database down): loud, and the next firing tries again.
        log.error("job %s could not be run or recorded: %r", event.job_id, event.exception, exc_info=event.exception)
    elif event.code == EVENT_JOB_MISSED:
        log.warning("job %s missed its run at %s", event.job_id, event.scheduled_run_time)
    else:
        log.warning("job %s still running at its next firing; that firing is skipped", event.job_id)


def _forget_stale_jobs(services: Services, names: set[str]) -> None:
    """Remove stored jobs this version no longer defines (APScheduler would keep firing them)."""
    with unit_of_work(services.session_factory) as session:
        session.execute(delete(ApschedulerJob).where(ApschedulerJob.id.not_in(names)))


def build_scheduler(
    services: Services,
    specs: Iterable[JobSpec],
    *,
    heartbeat_every: dt.timedelta = HEARTBEAT_EVERY,
    retry_delay: float = 2.0,
) -> BaseScheduler:
    """A configured, not yet started scheduler for ``specs``; binds this process's runner."""
    specs = list(specs)
    guard = guard_for(services.engine, services.settings.data_dir)
    _BOUND.runner = JobRunner(services=services, specs=specs, guard=guard, retry_delay=retry_delay)
    options: dict[str, Any] = {
        "jobstores": {
            "default": SQLAlchemyJobStore(engine=services.engine, tablename=ApschedulerJob.__tablename__),
            "local": MemoryJobStore(),
        },
        "executors": {"default": ThreadPoolExecutor(max_workers=4)},
        "job_defaults": {"coalesce": True, "max_instances": 1},
        "timezone": UTC,
    }
    scheduler = BackgroundScheduler(**options)
    _forget_stale_jobs(services, {spec.name for spec in specs})
    for spec in specs:
        scheduler.add_job(
            dispatch,
            IntervalTrigger(seconds=spec.every.total_seconds(), start_date=ANCHOR, timezone=UTC),
            args=[spec.name],
            id=spec.name,
            name=spec.description,
            replace_existing=True,
            misfire_grace_time=max(1, int(spec.every.total_seconds())),
        )
    process, started = process_name(), services.clock.now()
    scheduler.add_job(
        beat,
        IntervalTrigger(seconds=heartbeat_every.total_seconds(), timezone=UTC),
        args=[services, process, started],
        id="heartbeat",
        jobstore="local",
        next_run_time=dt.datetime.now(UTC),
    )
    scheduler.add_listener(_on_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
    return scheduler


def start_in_background(services: Services, specs: Iterable[JobSpec]) -> BaseScheduler:
    """Start the jobs on threads of this process (the one-command demo); ``.shutdown()`` stops them."""
    scheduler = build_scheduler(services, specs)
    scheduler.start()
    return scheduler


def run_forever(services: Services, specs: Iterable[JobSpec]) -> None:
    """Run the jobs until SIGTERM or SIGINT (systemd stop, Ctrl-C).

    The jobs run on the scheduler's threads; the main thread only waits for the signal. Its
    handler just notes it: a handler that stopped the scheduler itself ran wherever the main
    thread was interrupted, and when that was inside the scheduler holding one of its own locks
    (its wake-up event, its executor's), it waited for that lock for ever (seen once in CI).
    """
    specs = list(specs)
    received: list[int] = []

    def _note(signum: int, _frame: object) -> None:
        received.append(signum)

    signal.signal(signal.SIGTERM, _note)
    signal.signal(signal.SIGINT, _note)
    scheduler = start_in_background(services, specs)
    log.info("scheduler %s started with jobs: %s", process_name(), ", ".join(s.name for s in specs) or "none")
    while not received:
        time.sleep(STOP_POLL_SECONDS)  # the handler runs in here, where the main thread holds no lock
    log.info("scheduler stopping on signal %d", received[0])
    scheduler.shutdown(wait=False)
