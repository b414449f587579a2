"""A real scheduler process for the two-process tests (run with ``python -m``).

``python -m tests.integration.ops.scheduler_child MODE DATABASE_URL DATA_DIR SECONDS``

* ``scheduler``: an APScheduler process with the shared persistent job store and a
  job ``tick`` every second, running for SECONDS;
* ``hammer``: calls the runner for ``tick`` in a tight loop for SECONDS, so two
  processes certainly contend for every slot;
* ``slow``: runs job ``slow``, which prints ``holding`` and then never finishes
  (the parent kills the process).

Each run of ``tick`` appends an audit event naming its slot; each outcome is printed
as one JSON line on stdout for the parent test.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time

from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent

from audit.chain import Entity
from ebr.bootstrap import build_services
from ebr.core.clock import to_rfc3339
from ebr.core.config import load_settings
from ebr.core.db import unit_of_work
from ebr.jobs.guards import guard_for
from ebr.jobs.runner import JobContext, JobRunner, JobSpec, RunReport
from ebr.jobs.scheduler import build_scheduler


def tick(context: JobContext) -> dict[str, str]:
    with unit_of_work(context.services.session_factory) as session:
        context.services.audit.record(
            session, actor=context.actor, action="test.tick.ran", entity=Entity("slot", to_rfc3339(context.slot))
        )
    time.sleep(0.1)  # long enough for the other process to find the guard taken
    return {"slot": to_rfc3339(context.slot)}


SPEC = JobSpec(name="tick", func=tick, every=dt.timedelta(seconds=1), description="test tick", gmp=False)


def stuck(_context: JobContext) -> None:
    print("holding", flush=True)
    time.sleep(120)  # killed long before


SLOW = JobSpec(name="slow", func=stuck, every=dt.timedelta(hours=1), description="a run that never ends", gmp=False)


def _print(report: RunReport) -> None:
    print(json.dumps({"outcome": report.outcome.value, "slot": to_rfc3339(report.slot)}), flush=True)


def main() -> None:
    mode, url, data_dir, seconds = sys.argv[1:5]
    services = build_services(load_settings({"EBR_DATA_DIR": data_dir}, database_url=url))
    deadline = time.monotonic() + float(seconds)
    try:
        if mode == "slow":
            guard = guard_for(services.engine, services.settings.data_dir)
            JobRunner(services=services, specs=[SLOW], guard=guard).run("slow")
            return
        if mode == "hammer":
            guard = guard_for(services.engine, services.settings.data_dir)
            runner = JobRunner(services=services, specs=[SPEC], guard=guard)
            while time.monotonic() < deadline:
                _print(runner.run("tick"))
            return
        scheduler = build_scheduler(services, [SPEC], heartbeat_every=dt.timedelta(seconds=1))

        def executed(event: JobExecutionEvent) -> None:
            if event.job_id == "tick":
                _print(event.retval)

        scheduler.add_listener(executed, EVENT_JOB_EXECUTED)
        scheduler.start()
        time.sleep(max(0.0, deadline - time.monotonic()))
        scheduler.shutdown(wait=True)
    finally:
        services.close()


if __name__ == "__main__":
    main()
