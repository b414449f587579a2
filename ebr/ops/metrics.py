"""Prometheus metrics read from the database at scrape time.

Everything that describes the plant (batches, steps, deviations, audit events,
chain verification, interlock trips, equipment connections, scheduled jobs) is
counted in the database when ``/metrics`` is scraped, so the answer is the same
whichever gunicorn worker serves it and whichever process did the work (a
scheduler's job failures, a runtime's trips). Only request latency lives in the
web process (``ebr.ops.web_metrics``).

Each family is read in its own short session; a family whose query fails is left
out of that scrape and counted in ``ebr_metrics_probe_errors``, so one broken
table never blanks the whole page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from audit.models import AuditEvent
from ebr.bootstrap import Services
from ebr.integration.metrics import integration
from ebr.jobs.models import ScheduledJob, SchedulerHeartbeat
from ebr.ops.health import last_reconciliation, last_verification
from equipment.models import Alarm, Heartbeat

Probe = Callable[[Session, dt.datetime], Iterable[Metric]]


def batches(session: Session, _now: dt.datetime) -> Iterator[Metric]:
    from ebr.execution.models import Batch

    family = GaugeMetricFamily(
        "ebr_batches", "Batches by lifecycle status and ISA-88 state", labels=["status", "state"]
    )
    for status, state, count in session.execute(
        select(Batch.status, Batch.state, func.count()).group_by(Batch.status, Batch.state)
    ):
        family.add_metric([status, state], count)
    yield family


def steps(session: Session, _now: dt.datetime) -> Iterator[Metric]:
    from ebr.execution.models import BatchStep

    by_state = GaugeMetricFamily("ebr_batch_steps", "Batch steps by level and state", labels=["level", "state"])
    completed = CounterMetricFamily("ebr_steps_completed", "Batch phases that reached Complete")
    done = 0
    for level, state, count in session.execute(
        select(BatchStep.level, BatchStep.state, func.count()).group_by(BatchStep.level, BatchStep.state)
    ):
        by_state.add_metric([level, state], count)
        if state.lower() == "complete" and level.lower() == "phase":
            done += count
    completed.add_metric([], done)
    yield by_state
    yield completed


def deviations(session: Session, _now: dt.datetime) -> Iterator[Metric]:
    from ebr.execution.models import Deviation

    family = GaugeMetricFamily("ebr_deviations_open", "Deviations not yet closed, by severity", labels=["severity"])
    query = select(Deviation.severity, func.count()).where(Deviation.closed_at.is_(None)).group_by(Deviation.severity)
    for severity, count in session.execute(query):
        family.add_metric([severity], count)
    yield family


def audit(session: Session, now: dt.datetime) -> Iterator[Metric]:
    events = CounterMetricFamily("ebr_audit_events", "Events in the audit trail (the head's seq)")
    events.add_metric([], session.scalar(select(func.coalesce(func.max(AuditEvent.seq), 0))) or 0)
    yield events
    found = last_verification(session)
    age = GaugeMetricFamily("ebr_audit_chain_verification_age_seconds", "Seconds since the chain was last verified")
    intact = GaugeMetricFamily("ebr_audit_chain_intact", "1 when the last verification found the chain intact")
    if found is not None:
        at, summary = found
        age.add_metric([], (now - at).total_seconds())
        intact.add_metric([], 1 if summary.get("ok") else 0)
    yield age
    yield intact


def records(session: Session, now: dt.datetime) -> Iterator[Metric]:
    found = last_reconciliation(session)
    match = GaugeMetricFamily(
        "ebr_audit_records_match", "1 when the last reconciliation found every GMP row as the trail says"
    )
    findings = GaugeMetricFamily(
        "ebr_audit_records_findings", "Rows that differed from the trail at the last reconciliation"
    )
    age = GaugeMetricFamily("ebr_audit_records_verification_age_seconds", "Seconds since the records were reconciled")
    if found is not None:
        at, summary = found
        match.add_metric([], 1 if summary.get("ok") else 0)
        findings.add_metric([], int(summary.get("findings") or 0))
        age.add_metric([], (now - at).total_seconds())
    yield from (match, findings, age)


def equipment(session: Session, now: dt.datetime) -> Iterator[Metric]:
    trips = CounterMetricFamily(
        "ebr_interlock_trips", "Interlock trips and alarms raised, by condition", labels=["condition"]
    )
    for condition, count in session.execute(select(Alarm.condition, func.count()).group_by(Alarm.condition)):
        trips.add_metric([condition], count)
    yield trips
    connected = GaugeMetricFamily(
        "ebr_equipment_connected",
        "1 when the runtime is alive and connected to its equipment",
        labels=["runtime", "area"],
    )
    beat_age = GaugeMetricFamily(
        "ebr_runtime_heartbeat_age_seconds", "Seconds since a runtime's heartbeat", labels=["runtime"]
    )
    for row in session.scalars(select(Heartbeat)):
        connected.add_metric([row.runtime_id, row.area], 1 if row.connected else 0)
        beat_age.add_metric([row.runtime_id], (now - row.beat_at).total_seconds())
    yield connected
    yield beat_age


def scheduler(session: Session, now: dt.datetime) -> Iterator[Metric]:
    runs = CounterMetricFamily("ebr_scheduled_job_runs", "Runs of a scheduled job", labels=["job"])
    failures = CounterMetricFamily("ebr_scheduled_job_failures", "Runs that failed after every retry", labels=["job"])
    streak = GaugeMetricFamily("ebr_scheduled_job_consecutive_failures", "Failed runs in a row", labels=["job"])
    for row in session.scalars(select(ScheduledJob)):
        runs.add_metric([row.name], row.runs)
        failures.add_metric([row.name], row.failures)
        streak.add_metric([row.name], row.consecutive_failures)
    yield from (runs, failures, streak)
    seen = session.scalar(select(SchedulerHeartbeat.seen_at).order_by(SchedulerHeartbeat.seen_at.desc()).limit(1))
    age = GaugeMetricFamily("ebr_scheduler_heartbeat_age_seconds", "Seconds since a scheduler was last alive")
    if seen is not None:
        age.add_metric([], (now - seen).total_seconds())
    yield age


PROBES: tuple[Probe, ...] = (batches, steps, deviations, audit, records, equipment, scheduler, integration)


class DatabaseCollector(Collector):
    """A prometheus-client collector that runs every probe against the installation's database."""

    def __init__(self, services: Services, probes: Iterable[Probe] | None = None) -> None:
        from ebr.performance.metrics import probe as unit_performance

        self.services = services
        self.probes = tuple(probes) if probes is not None else (*PROBES, unit_performance(services))

    def collect(self) -> Iterator[Metric]:
        errors = GaugeMetricFamily(
            "ebr_metrics_probe_errors", "Metric families left out of this scrape", labels=["probe"]
        )
        now = self.services.clock.now()
        for probe in self.probes:
            try:
                with self.services.session_factory() as session:
                    families = list(probe(session, now))
            # ImportError: the batch engine's tables arrive with its package.
            except (SQLAlchemyError, ImportError):
                errors.add_metric([probe.__name__], 1)
                continue
            yield from families
        yield errors
