"""The slot grid, job specs, interval settings and lock keys (pure, no database)."""

from __future__ import annotations

import datetime as dt

import pytest

from ebr.core.clock import UTC
from ebr.core.errors import ConfigError
from ebr.jobs.definitions import builtin_jobs, env_name, interval_seconds
from ebr.jobs.guards import lock_key
from ebr.jobs.runner import JobSpec, slot_of


def test_every_host_puts_a_moment_in_the_same_slot() -> None:
    every = dt.timedelta(hours=1)
    moment = dt.datetime(2026, 11, 24, 13, 59, 59, 999999, tzinfo=UTC)
    assert slot_of(moment, every) == dt.datetime(2026, 11, 24, 13, tzinfo=UTC)
    assert slot_of(moment + dt.timedelta(microseconds=1), every) == dt.datetime(2026, 11, 24, 14, tzinfo=UTC)


def test_a_slot_does_not_depend_on_the_time_zone_the_moment_is_given_in() -> None:
    berlin = dt.timezone(dt.timedelta(hours=1))
    moment = dt.datetime(2026, 11, 24, 14, 30, tzinfo=berlin)
    assert slot_of(moment, dt.timedelta(minutes=15)) == dt.datetime(2026, 11, 24, 13, 30, tzinfo=UTC)


def test_a_job_needs_a_positive_interval_and_at_least_one_attempt() -> None:
    with pytest.raises(ConfigError, match="positive"):
        JobSpec(name="x", func=lambda c: None, every=dt.timedelta(0), description="x")
    with pytest.raises(ConfigError, match="attempts"):
        JobSpec(name="x", func=lambda c: None, every=dt.timedelta(seconds=1), description="x", attempts=0)


@pytest.mark.requirement("URS-SYS-004")
def test_a_job_interval_that_is_not_a_number_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="EBR_JOB_AUDIT_VERIFY_SECONDS='hourly'"):
        interval_seconds({env_name("audit_verify"): "hourly"}, "audit_verify")
    assert interval_seconds({env_name("audit_verify"): "0"}, "audit_verify") == 0
    assert interval_seconds({env_name("audit_verify"): "120"}, "audit_verify") == 120


def test_the_calibration_job_runs_hourly_by_default_and_is_configured_like_the_others() -> None:
    assert env_name("calibration_due") == "EBR_JOB_CALIBRATION_DUE_SECONDS"
    (spec,) = [spec for spec in builtin_jobs({}) if spec.name == "calibration_due"]
    assert (spec.every, spec.gmp) == (dt.timedelta(hours=1), True)
    assert [s.every for s in builtin_jobs({env_name("calibration_due"): "900"}) if s.name == "calibration_due"] == [
        dt.timedelta(minutes=15)
    ]
    assert "calibration_due" not in [s.name for s in builtin_jobs({env_name("calibration_due"): "0"})]


def test_lock_keys_are_stable_signed_64_bit_and_differ_per_job() -> None:
    assert lock_key("audit_verify") == lock_key("audit_verify")
    assert lock_key("audit_verify") != lock_key("lot_expiry")
    assert -(2**63) <= lock_key("lot_expiry") < 2**63
