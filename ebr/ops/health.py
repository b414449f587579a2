"""What ``/healthz`` reports beyond the database: runtime, scheduler, audit chain, jobs.

The database and schema decide whether the web app can serve (HTTP 200 or 503);
the other checks say whether the *installation* is healthy. A stale scheduler or
runtime makes ``degraded`` name it, but does not take the web app out of a load
balancer: operators can still work and the alarm is raised by monitoring.

* ``runtime``: judged by area: every area whose equipment runtime beat in the last
  day must have one alive (``equipment.commands.HEARTBEAT_STALE_AFTER``); one silent
  area is not hidden by the others, and a silent runtime is reported as stale or
  replaced, never as alive. A runtime silent for a day counts as retired.
* ``scheduler``: the newest ``scheduler_heartbeat``; stale after
  :data:`SCHEDULER_STALE` (three missed beats).
* ``audit_chain``: the newest ``audit.chain.verified`` event (written by every
  live verification, scheduled or by hand): when, and whether the chain was intact.
* ``audit_records``: the newest ``audit.records.verified`` event (``ebr audit verify
  --records`` or the scheduled verification): whether every GMP row matched the trail.
* ``database_role``: on PostgreSQL, whether the application connects as a role that
  owns the tables or is a superuser (it must not: ``ebr db roles``, docs/operations.md).
* ``jobs``: scheduled jobs whose last run failed.
* ``segregation_of_duties``: active users holding roles one person may not combine
  (admin with a role that executes or signs GMP records), left from before the rule.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from audit.models import AuditEvent
from ebr.bootstrap import Services
from ebr.core.clock import to_rfc3339
from ebr.jobs.models import ScheduledJob, SchedulerHeartbeat
from ebr.ops.roles import role_problem
from equipment.commands import HEARTBEAT_STALE_AFTER
from equipment.models import Heartbeat
from signatures.models import UserAccount
from signatures.permissions import conflicts

SCHEDULER_STALE = dt.timedelta(seconds=90)
RUNTIME_RETIRED = dt.timedelta(days=1)
VERIFIED_ACTION = "audit.chain.verified"
RECORDS_VERIFIED_ACTION = "audit.records.verified"

Check = dict[str, Any]


def _age(now: dt.datetime, moment: dt.datetime | None) -> float | None:
    return None if moment is None else round((now - moment).total_seconds(), 3)


def _silent(now: dt.datetime, beat: dt.datetime) -> str:
    return f"silent for {_age(now, beat)} s: is it running?"


def _runtime_state(row: Heartbeat, alive: bool, served: set[str]) -> str:
    """alive, stopped (shut down cleanly), replaced (silent, a newer runtime serves its area) or stale."""
    if alive:
        return "alive"
    if row.detail == "stopped":
        return "stopped"
    return "replaced" if row.area in served else "stale"


def runtime_check(session: Session, now: dt.datetime) -> Check:
    """Every area with an equipment runtime seen in the last day must have one alive.

    Judged by area: a runtime replaced by another for the same area (a restart gets a new
    id; the demo's set-up runtime is followed by the serving one) does not make the area
    unhealthy, but it is reported as silent (``state`` replaced), never as alive; rows
    older than a day count as retired.
    """
    rows = session.scalars(
        select(Heartbeat).where(Heartbeat.beat_at >= now - RUNTIME_RETIRED).order_by(Heartbeat.area)
    ).all()
    if not rows:
        return {"ok": False, "runtimes": [], "detail": "no equipment runtime is running: start `ebr runtime`"}
    served = {row.area for row in rows if now - row.beat_at < HEARTBEAT_STALE_AFTER}
    runtimes = []
    for row in rows:
        alive = now - row.beat_at < HEARTBEAT_STALE_AFTER
        state = _runtime_state(row, alive, served)
        detail = row.detail if alive or row.detail == "stopped" else _silent(now, row.beat_at)
        if state == "replaced":
            detail += f" (area {row.area} is served by a newer runtime)"
        runtimes.append(
            {
                "runtime": row.runtime_id,
                "area": row.area,
                "alive": alive,
                "state": state,
                "connected": alive and row.connected,
                "last_beat": to_rfc3339(row.beat_at),
                "age_seconds": _age(now, row.beat_at),
                "detail": detail,
            }
        )
    dead = sorted({row.area for row in rows} - served)
    areas = {row.area: ("alive" if row.area in served else "stale") for row in rows}
    silent = [r for r in runtimes if r["state"] == "replaced"]
    detail = ("stale: no live runtime for area " + ", ".join(dead)) if dead else "every area has a live runtime"
    if silent:
        names = ", ".join(f"{r['runtime']} ({r['area']}, silent {r['age_seconds']} s)" for r in silent)
        detail += f"; replaced and silent: {names}"
    return {"ok": not dead, "areas": areas, "runtimes": runtimes, "detail": detail}


def scheduler_check(session: Session, now: dt.datetime) -> Check:
    seen = session.scalar(select(SchedulerHeartbeat.seen_at).order_by(SchedulerHeartbeat.seen_at.desc()).limit(1))
    if seen is None:
        return {"ok": False, "last_beat": None, "detail": "no scheduler has ever run: start `ebr scheduler`"}
    alive = now - seen < SCHEDULER_STALE
    detail = "alive" if alive else f"last heartbeat {_age(now, seen)} s ago: is `ebr scheduler` running?"
    return {"ok": alive, "last_beat": to_rfc3339(seen), "age_seconds": _age(now, seen), "detail": detail}


def _newest(session: Session, action: str) -> tuple[dt.datetime, dict[str, Any]] | None:
    """The time and the after-image of the newest audit event of ``action`` (None: never)."""
    row = session.execute(
        select(AuditEvent.ts, AuditEvent.canonical)
        .where(AuditEvent.action == action)
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    summary: dict[str, Any] = json.loads(row[1]).get("after") or {}
    return row[0], summary


def last_verification(session: Session) -> tuple[dt.datetime, dict[str, Any]] | None:
    """When the chain was last verified and the verifier's summary (None: never)."""
    return _newest(session, VERIFIED_ACTION)


def audit_check(session: Session, now: dt.datetime) -> Check:
    found = last_verification(session)
    if found is None:
        return {"ok": False, "verified_at": None, "detail": "the chain was never verified: run `ebr audit verify`"}
    at, summary = found
    intact = bool(summary.get("ok"))
    detail = "intact" if intact else f"BROKEN at seq {summary.get('first_broken_seq')} ({summary.get('kind')})"
    return {
        "ok": intact,
        "verified_at": to_rfc3339(at),
        "age_seconds": _age(now, at),
        "head_seq": summary.get("head_seq"),
        "detail": detail,
    }


def last_reconciliation(session: Session) -> tuple[dt.datetime, dict[str, Any]] | None:
    """When the records were last reconciled with the trail and the summary (None: never)."""
    return _newest(session, RECORDS_VERIFIED_ACTION)


def records_check(session: Session, now: dt.datetime) -> Check:
    found = last_reconciliation(session)
    if found is None:
        return {
            "ok": False,
            "verified_at": None,
            "detail": "records were never reconciled: run `ebr audit verify --records`",
        }
    at, summary = found
    matched = bool(summary.get("ok"))
    detail = (
        "every GMP row matches the trail"
        if matched
        else f"{summary.get('findings')} finding(s): " + "; ".join(summary.get("first") or [])
    )
    return {"ok": matched, "verified_at": to_rfc3339(at), "age_seconds": _age(now, at), "detail": detail}


def role_check(session: Session, now: dt.datetime) -> Check:
    problem = role_problem(session.connection())
    return {"ok": problem is None, "detail": problem or "application role without ownership or superuser rights"}


def jobs_check(session: Session, now: dt.datetime) -> Check:
    failing = session.scalars(select(ScheduledJob).where(ScheduledJob.consecutive_failures > 0)).all()
    return {
        "ok": not failing,
        "failing": [
            {"job": row.name, "consecutive_failures": row.consecutive_failures, "last_error": row.last_error}
            for row in failing
        ],
    }


def segregation_check(session: Session, now: dt.datetime) -> Check:
    """Active users with incompatible roles (``signatures.permissions.INCOMPATIBLE``)."""
    rows = session.scalars(select(UserAccount).where(UserAccount.active.is_(True)).order_by(UserAccount.user_id))
    found = [{"user": row.user_id, "conflicts": conflicts(row.roles.split())} for row in rows]
    found = [item for item in found if item["conflicts"]]
    detail = (
        "no user holds incompatible roles"
        if not found
        else f"{len(found)} user(s) hold incompatible roles and are refused every GMP action until an "
        "administrator removes one role (`ebr user list`, /admin/users)"
    )
    return {"ok": not found, "users": found, "detail": detail}


CHECKS: dict[str, Callable[[Session, dt.datetime], Check]] = {
    "runtime": runtime_check,
    "scheduler": scheduler_check,
    "audit_chain": audit_check,
    "audit_records": records_check,
    "database_role": role_check,
    "jobs": jobs_check,
    "segregation_of_duties": segregation_check,
}


def installation_checks(services: Services) -> dict[str, Check]:
    """Run every check in its own read-only session; a check that errors reports the error."""
    now = services.clock.now()
    results: dict[str, Check] = {}
    for name, check in CHECKS.items():
        try:
            with services.session_factory() as session:
                results[name] = check(session, now)
        except SQLAlchemyError as exc:
            results[name] = {"ok": False, "detail": f"cannot be read: {type(exc).__name__}"}
    return results
