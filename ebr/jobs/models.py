"""Tables of the scheduler (migration branch ``ops``).

* ``apscheduler_jobs`` is APScheduler 3's own job-store table, declared here column
  for column as ``SQLAlchemyJobStore`` defines it, so the hand-written migration
  creates it, the model/migration comparison covers it, and the job store never
  has to create tables at run time. Its ``next_run_time`` is APScheduler's float
  epoch timestamp: scheduler bookkeeping, not a GMP value.
* ``scheduled_job`` is the run ledger: one row per job with the last slot it ran
  for, its outcome and its failure counts. Two schedulers consult it under the
  job's lock, which is what makes each slot run once.
* ``scheduler_heartbeat`` has one row per running scheduler process.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Float, Integer, LargeBinary, String, Text, Unicode
from sqlalchemy.orm import Mapped, mapped_column

from ebr.core.db import Base


class ApschedulerJob(Base):
    """APScheduler's job store row (the pickled job state); written only by APScheduler."""

    __tablename__ = "apscheduler_jobs"

    id: Mapped[str] = mapped_column(Unicode(191), primary_key=True)
    # 25 binary digits of precision is APScheduler's choice ("an 8-byte float").
    next_run_time: Mapped[float | None] = mapped_column(Float(25), index=True)
    job_state: Mapped[bytes] = mapped_column(LargeBinary)


class ScheduledJob(Base):
    """The run ledger of one job."""

    __tablename__ = "scheduled_job"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_slot: Mapped[dt.datetime | None]
    last_started_at: Mapped[dt.datetime | None]
    last_finished_at: Mapped[dt.datetime | None]
    last_status: Mapped[str | None] = mapped_column(String(20))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_result: Mapped[str | None] = mapped_column(Text)
    last_host: Mapped[str | None] = mapped_column(String(200))
    runs: Mapped[int] = mapped_column(BigInteger, default=0)
    failures: Mapped[int] = mapped_column(BigInteger, default=0)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)


class SchedulerHeartbeat(Base):
    """One running scheduler process (``host:pid``) and when it was last alive."""

    __tablename__ = "scheduler_heartbeat"

    process: Mapped[str] = mapped_column(String(200), primary_key=True)
    started_at: Mapped[dt.datetime]
    seen_at: Mapped[dt.datetime]
