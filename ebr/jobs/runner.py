"""Run one scheduled job once per slot: guard, ledger, retries, reporting.

A job fires on a fixed grid of *slots* (``ANCHOR + k * every``), the same on every
host, so two scheduler processes agree which run a firing belongs to. A run:

1. takes the job's guard (advisory lock / file lock); busy → skipped, another
   process is running it;
2. reads the ledger row; its ``last_slot`` already at this slot → skipped, another
   process ran it;
3. calls the job up to ``attempts`` times with a growing pause between attempts;
4. records the outcome in the ledger (runs, failures, consecutive failures, last
   error). A job that still fails is logged at ERROR, counted (``/metrics`` reads
   the ledger) and, when it concerns GMP data, written to the audit trail with
   actor ``system:scheduler`` in the same transaction as the ledger update. It is
   never dropped silently: the next slot runs it again.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.chain import Entity
from ebr.bootstrap import Services
from ebr.core.clock import UTC
from ebr.core.db import unit_of_work
from ebr.core.errors import ConfigError
from ebr.jobs.guards import RunGuard
from ebr.jobs.models import ScheduledJob

SYSTEM_ACTOR = "system:scheduler"
ANCHOR = dt.datetime(2000, 1, 1, tzinfo=UTC)
log = logging.getLogger("ebr.jobs")

JobResult = Mapping[str, Any] | None


@dataclass(frozen=True, kw_only=True)
class JobContext:
    """What a job function receives: the services, its slot and the actor to record."""

    services: Services
    slot: dt.datetime
    actor: str = SYSTEM_ACTOR


JobFunction = Callable[[JobContext], JobResult]


@dataclass(frozen=True, kw_only=True)
class JobSpec:
    """One scheduled job. ``gmp`` jobs change GMP data: their failures go to the audit trail."""

    name: str
    func: JobFunction
    every: dt.timedelta
    description: str
    gmp: bool = True
    attempts: int = 3

    def __post_init__(self) -> None:
        if self.every <= dt.timedelta(0):
            raise ConfigError(f"job {self.name}: the interval must be positive, got {self.every}")
        if self.attempts < 1:
            raise ConfigError(f"job {self.name}: attempts must be at least 1")


class Outcome(enum.StrEnum):
    OK = "ok"
    FAILED = "failed"
    BUSY = "busy"  # another process holds the job's guard
    DONE = "done"  # another process already ran this slot


@dataclass(frozen=True)
class RunReport:
    name: str
    slot: dt.datetime
    outcome: Outcome
    attempts: int = 0
    result: JobResult = None
    error: str | None = None


def slot_of(moment: dt.datetime, every: dt.timedelta) -> dt.datetime:
    """The start of the slot ``moment`` falls in, on the grid shared by every host."""
    steps = (moment - ANCHOR) // every
    return ANCHOR + steps * every


def process_name() -> str:
    """``host:pid`` of this process, as recorded in the ledger and heartbeats."""
    return f"{socket.gethostname()}:{os.getpid()}"


class JobRunner:
    """Runs the jobs it was given; build one per scheduler process."""

    def __init__(
        self,
        *,
        services: Services,
        specs: Iterable[JobSpec],
        guard: RunGuard,
        retry_delay: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.services = services
        self.specs = {spec.name: spec for spec in specs}
        self.guard = guard
        self.retry_delay = retry_delay
        self._sleep = sleep
        self.process = process_name()

    def run(self, name: str) -> RunReport:
        """Run job ``name`` for the current slot unless another process has it or had it."""
        spec = self.specs[name]
        slot = slot_of(self.services.clock.now(), spec.every)
        with self.guard.hold(name) as held:
            if not held:
                return self._skipped(spec, slot, Outcome.BUSY)
            if not self._claim(spec, slot):
                return self._skipped(spec, slot, Outcome.DONE)
            started = self.services.clock.now()
            report = self._attempt(spec, slot)
            self._finish(spec, report, started)
        return report

    def _skipped(self, spec: JobSpec, slot: dt.datetime, outcome: Outcome) -> RunReport:
        log.info("job %s slot %s skipped: %s", spec.name, slot.isoformat(), outcome.value, extra={"job": spec.name})
        return RunReport(spec.name, slot, outcome)

    def _claim(self, spec: JobSpec, slot: dt.datetime) -> bool:
        """True unless this slot was already run (read under the guard; nothing written)."""
        with self.services.session_factory() as session:
            last = session.scalar(select(ScheduledJob.last_slot).where(ScheduledJob.name == spec.name))
        return last is None or last < slot

    def _attempt(self, spec: JobSpec, slot: dt.datetime) -> RunReport:
        context = JobContext(services=self.services, slot=slot)
        error = ""
        for attempt in range(1, spec.attempts + 1):
            try:
                result = spec.func(context)
            # Any failure of a job is caught to be retried and then recorded, logged,
            # counted and (for GMP jobs) audited by _finish; nothing is swallowed.
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                log.warning("job %s attempt %d/%d failed: %s", spec.name, attempt, spec.attempts, error, exc_info=True)
                if attempt < spec.attempts:
                    self._sleep(self.retry_delay * attempt)
                continue
            return RunReport(spec.name, slot, Outcome.OK, attempt, result)
        return RunReport(spec.name, slot, Outcome.FAILED, spec.attempts, None, error)

    def _finish(self, spec: JobSpec, report: RunReport, started: dt.datetime) -> None:
        with unit_of_work(self.services.session_factory) as session:
            row = _ledger_row(session, spec.name)
            row.last_slot = report.slot
            row.last_started_at = started
            row.last_host = self.process
            row.last_finished_at = self.services.clock.now()
            row.last_status = report.outcome.value
            row.runs += 1
            if report.outcome is Outcome.OK:
                row.consecutive_failures = 0
                row.last_error = None
                row.last_result = json.dumps(report.result, sort_keys=True, default=str) if report.result else None
            else:
                row.failures += 1
                row.consecutive_failures += 1
                row.last_error = report.error
                if spec.gmp:
                    self._audit_failure(session, spec, report)
        if report.outcome is Outcome.OK:
            log.info("job %s slot %s ok", spec.name, report.slot.isoformat(), extra={"job": spec.name})
        else:
            log.error(
                "job %s slot %s FAILED after %d attempts: %s",
                spec.name,
                report.slot.isoformat(),
                report.attempts,
                report.error,
                extra={"job": spec.name},
            )

    def _audit_failure(self, session: Session, spec: JobSpec, report: RunReport) -> None:
        self.services.audit.record(
            session,
            actor=SYSTEM_ACTOR,
            action="scheduler.job.failed",
            entity=Entity("scheduled_job", spec.name),
            after={"slot": report.slot, "attempts": report.attempts, "error": report.error, "host": self.process},
            reason=f"scheduled job {spec.name} failed; it runs again at its next slot",
        )


def _ledger_row(session: Session, name: str) -> ScheduledJob:
    row = session.get(ScheduledJob, name)
    if row is None:
        row = ScheduledJob(name=name, runs=0, failures=0, consecutive_failures=0)
        session.add(row)
    return row
