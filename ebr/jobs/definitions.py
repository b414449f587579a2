"""The built-in scheduled jobs: each a thin call into its package's service.

A job never re-implements a domain rule: it opens one unit of work, calls the
service that owns the rule with the scheduler's system actor and the current
time, and returns a small summary for the run ledger. The service writes the
change and its audit event in that same transaction.

Intervals come from the environment (``EBR_JOB_<NAME>_SECONDS``, ``0`` disables a
job); defaults are in :data:`DEFAULT_SECONDS`. See docs/operations.md.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ebr.core.db import unit_of_work
from ebr.core.errors import AuditError, ConfigError, EbrError, StateError
from ebr.execution.models import Batch, Deviation
from ebr.execution.rules import BatchStatus, DeviationKind
from ebr.execution.service import build as build_execution
from ebr.jobs.runner import JobContext, JobFunction, JobSpec
from ebr.ops.records import verify_records
from ebr.trail import services as audit_service
from equipment import trend
from equipment.errors import CleanHoldExpired, EquipmentNotUsable
from equipment.rules import EquipmentStatus

log = logging.getLogger("ebr.jobs")


@dataclass(frozen=True)
class _Job:
    description: str
    func: JobFunction
    gmp: bool = True


def verify_and_checkpoint(context: JobContext) -> dict[str, Any]:
    """Reconcile the records, verify the live chain (both audited) and, when intact, sign a checkpoint.

    Records that do not match the trail (``ebr.ops.records``) are logged at CRITICAL and
    alerted like a broken chain; they do not stop the chain's checkpoint.

    A broken chain is not a failed *job*: the verification ran and its finding is in
    the trail, ``/healthz`` and ``/metrics``; it is logged at CRITICAL and sent to the
    alert notifier. No checkpoint is signed over a broken chain.
    """
    services = context.services
    records = verify_records(services, actor=context.actor)
    if not records.ok:
        log.critical("GMP RECORDS DO NOT MATCH THE AUDIT TRAIL: %s", "; ".join(records.summary()["first"]))
        services.users.notifier.alert("audit.records.mismatch", records.summary())
    report = audit_service.verify_live(services, actor=context.actor)
    result = report.summary() | {"records": records.summary()}
    if not report.ok:
        log.critical("AUDIT CHAIN BROKEN: %s", "; ".join(b.describe() for b in report.breaks))
        services.users.notifier.alert("audit.chain.broken", result)
        return result
    if services.checkpointer is None:
        raise AuditError("checkpoints are not configured in this installation")
    with unit_of_work(services.session_factory) as session:
        made = services.checkpointer.checkpoint(session)
    result["checkpoint_seq"] = made.seq
    return result


def sign_tree_head(context: JobContext) -> dict[str, Any]:
    """Protect the tail: a signed tree head when events were appended since the newest one.

    Refused (the job fails, alerted and audited) when the events since the previous tree
    head do not verify: a broken chain is never sealed.
    """
    made = audit_service.sign_tree_head_if_new(context.services)
    return {"tree_size": made.tree_size if made else None, "signed": made is not None}


def sync_batches(context: JobContext) -> dict[str, Any]:
    """Bring every batch in execution up to date (``Execution.sync``, one transaction each).

    The engine owns the rules: a timed hold past its maximum opens a TIME_EXCEEDED
    deviation (once), an automated phase whose runtime stopped answering is held.
    Each deviation of that kind opened during this run is sent to the alert notifier.
    One batch's failure does not stop the others; it fails the run (retried, reported).
    """
    services = context.services
    execution = build_execution(services)
    started = services.clock.now()
    with services.session_factory() as session:
        numbers = list(session.scalars(select(Batch.number).where(Batch.status == BatchStatus.IN_EXECUTION.value)))
    problems = []
    for number in numbers:
        try:
            with unit_of_work(services.session_factory) as session:
                execution.sync(session, number)
        except EbrError as exc:  # collected and raised below: the run fails, the others still sync
            problems.append(f"{number}: {exc}")
    alerted = _alert_overruns(context, started)
    if problems:
        raise StateError(f"{len(problems)} of {len(numbers)} batches could not be synced: " + "; ".join(problems))
    return {"batches": len(numbers), "time_exceeded": alerted}


def _alert_overruns(context: JobContext, since: dt.datetime) -> int:
    services = context.services
    query = select(Deviation, Batch.number).join(Batch, Batch.id == Deviation.batch_id)
    query = query.where(Deviation.kind == DeviationKind.TIME_EXCEEDED.value, Deviation.opened_at >= since)
    with services.session_factory() as session:
        found = session.execute(query).all()
    for deviation, batch_number in found:
        details = {"batch": batch_number, "deviation": deviation.number, "step": deviation.step_path}
        services.users.notifier.alert("batch.timed_hold.exceeded", details | {"description": deviation.description})
    return len(found)


def expire_clean_holds(context: JobContext) -> dict[str, Any]:
    """Mark DIRTY (audited, system actor) every CLEAN unit whose clean hold has expired.

    The equipment package decides: ``check_usable`` raises CleanHoldExpired by its
    rule (for CLEAN equipment the clean hold is checked before calibration), and
    ``mark_dirty`` changes the status with its logbook entry and audit event.
    """
    services = context.services
    equipment, now = services.equipment, services.clock.now()
    expired = []
    with unit_of_work(services.session_factory) as session:
        for item in equipment.all(session):
            if item.status != EquipmentStatus.CLEAN.value:
                continue
            try:
                equipment.check_usable(session, item.tag, now)
            except CleanHoldExpired as exc:
                equipment.mark_dirty(session, actor=context.actor, unit=item.tag, reason=f"clean hold expired: {exc}")
                expired.append(item.tag)
            except EquipmentNotUsable:
                continue  # another reason (calibration): not this job's change to make
    return {"marked_dirty": expired}


def flag_overdue_calibrations(context: JobContext) -> dict[str, Any]:
    """Equipment whose calibration is overdue → maintenance (audited, system actor): the equipment service decides.

    Each unit taken out of use in this run is sent to the alert notifier
    (``equipment.calibration.overdue``) after the commit. A unit in use by a batch is
    left to its batch and reported under ``in_use``; the first run after its release
    takes it out of use.
    """
    services = context.services
    with unit_of_work(services.session_factory) as session:
        found = services.equipment.flag_overdue_calibrations(session, actor=context.actor, at=services.clock.now())
    taken = [item for item in found if not item.in_use]
    for item in taken:
        due_at = None if item.due_at is None else item.due_at.isoformat()
        details = {"equipment": item.tag, "due_at": due_at, "status": EquipmentStatus.MAINTENANCE.value}
        services.users.notifier.alert("equipment.calibration.overdue", details | {"reason": item.reason})
    return {"taken_out_of_use": [item.tag for item in taken], "in_use": [item.tag for item in found if item.in_use]}


def expire_lots(context: JobContext) -> dict[str, Any]:
    """Released lots past their expiry date → expired (audited, system actor): the materials service decides."""
    services = context.services
    with unit_of_work(services.session_factory) as session:
        expired = build_execution(services).materials.expire_lots(session, actor=context.actor)
    return {"expired": expired}


def end_idle_sessions(context: JobContext) -> dict[str, Any]:
    """Web sessions idle past the timeout are ended (audited ``auth.session_ended``)."""
    services = context.services
    with unit_of_work(services.session_factory) as session:
        ended = services.users.sessions.end_idle(session)
    return {"ended": len(ended)}


def prune_trend(context: JobContext) -> dict[str, Any]:
    """Idle trend buckets older than ``EBR_TREND_RETENTION_DAYS`` are deleted (phase buckets stay).

    Not GMP data: the buckets of a running phase (the batch record's trends) are never
    touched; this keeps an idle plant's 60-second history from growing for years.
    """
    services = context.services
    before = services.clock.now() - dt.timedelta(days=services.settings.trend_retention_days)
    with unit_of_work(services.session_factory) as session:
        deleted = trend.prune_idle(session, before=before)
    log.info("trend retention: %d idle buckets before %s deleted", deleted, before.isoformat())
    return {"deleted": deleted, "before": before.isoformat()}


def evaluate_trends(context: JobContext) -> dict[str, Any]:
    """Released batches not yet evaluated → control-chart rules → trend notifications for QA (ebr.analytics)."""
    from ebr.analytics.jobs import evaluate_released

    return evaluate_released(context.services, actor=context.actor)


def mark_silent_runtimes(context: JobContext) -> dict[str, Any]:
    """Units of an area whose runtime is silent or disconnected → down (ebr.performance)."""
    from ebr.performance.jobs import mark_silent_runtimes as mark

    return mark(context.services, actor=context.actor)


def report_expiring_trainings(context: JobContext) -> dict[str, Any]:
    """Trainings expiring within EBR_TRAINING_NOTICE_DAYS (or expired) → alert (ebr.training)."""
    import os

    from ebr.training.jobs import notice_days, report_expiring

    return report_expiring(context.services, within_days=notice_days(dict(os.environ)))


def _catalogue() -> dict[str, _Job]:
    """Every job this version defines (names are stable: they key the ledger and the store)."""
    return {
        "audit_verify": _Job("verify the audit chain and sign a checkpoint", verify_and_checkpoint),
        "audit_tree_head": _Job("sign a tree head over events appended since the last one", sign_tree_head),
        "batch_sync": _Job("timed holds past their maximum → deviation and alert", sync_batches),
        "clean_hold_expiry": _Job("equipment whose clean hold expired → dirty", expire_clean_holds),
        "calibration_due": _Job("equipment whose calibration is overdue → maintenance", flag_overdue_calibrations),
        "lot_expiry": _Job("released lots past their expiry date → expired", expire_lots),
        "idle_sessions": _Job("web sessions idle past the timeout → ended", end_idle_sessions),
        "trend_retention": _Job("idle trend history past its retention → deleted", prune_trend, gmp=False),
        "analytics_trends": _Job("released batches → control-chart rules → trend notifications", evaluate_trends),
        "performance_comms": _Job("units of a silent or disconnected runtime → down", mark_silent_runtimes),
        "training_expiry": _Job("trainings expiring soon → alert", report_expiring_trainings, gmp=False),
    }


DEFAULT_SECONDS: Mapping[str, int] = {
    "audit_verify": 3600,
    "audit_tree_head": 60,
    "batch_sync": 30,
    "clean_hold_expiry": 60,
    "calibration_due": 3600,
    "lot_expiry": 3600,
    "idle_sessions": 60,
    "trend_retention": 86400,
    "analytics_trends": 300,
    "performance_comms": 10,
    "training_expiry": 86400,
}


# The documented name of the tree-head interval (EBR_JOB_AUDIT_TREE_HEAD_SECONDS works too).
CHECKPOINT_SECONDS = "EBR_CHECKPOINT_SECONDS"


def env_name(job: str) -> str:
    """The environment variable that sets ``job``'s interval in seconds."""
    return f"EBR_JOB_{job.upper()}_SECONDS"


def interval_seconds(env: Mapping[str, str], job: str) -> int:
    """The configured interval of ``job`` (0: disabled); a bad value is a ConfigError."""
    name, default = env_name(job), DEFAULT_SECONDS.get(job, 3600)
    raw = env.get(name, "").strip()
    if not raw and job == "audit_tree_head" and env.get(CHECKPOINT_SECONDS, "").strip():
        name, raw = CHECKPOINT_SECONDS, env[CHECKPOINT_SECONDS].strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise ConfigError(f"{name}={raw!r} is not a whole number of seconds; use e.g. {name}={default} (0 disables)")
    return int(raw)


def builtin_jobs(env: Mapping[str, str], catalogue: Callable[[], dict[str, _Job]] = _catalogue) -> list[JobSpec]:
    """The enabled built-in jobs with their configured intervals."""
    specs = []
    for name, job in catalogue().items():
        seconds = interval_seconds(env, name)
        if seconds == 0:
            continue
        specs.append(
            JobSpec(
                name=name,
                func=job.func,
                every=dt.timedelta(seconds=seconds),
                description=job.description,
                gmp=job.gmp,
            )
        )
    return specs
