"""The scheduled report of trainings about to expire (``training_expiry``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import update

from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.core.errors import ConfigError
from ebr.jobs.definitions import builtin_jobs
from ebr.training.jobs import notice_days, report_expiring
from ebr.training.models import TrainingRecord
from tests.integration.execution.api_support import Api
from tests.integration.execution.conftest import Floor
from tests.integration.training.support import REACTOR, add_curriculum, train


@pytest.fixture
def backend() -> str:
    return "sqlite"


class Recorder:
    def __init__(self) -> None:
        self.alerts: list[tuple[str, dict[str, Any]]] = []

    def alert(self, name: str, details: dict[str, Any]) -> None:
        self.alerts.append((name, details))


@pytest.mark.requirement("URS-TRN-004")
def test_trainings_expiring_within_the_notice_period_are_alerted_ahead(
    app: Flask, floor: Floor, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_curriculum(Api(app.test_client(), "quinn"))
    sam = Api(app.test_client(), "sam")
    train(sam, "olga")
    train(sam, "otto")
    soon = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=10)
    with unit_of_work(services.session_factory) as session:
        session.execute(update(TrainingRecord).where(TrainingRecord.trainee == "otto").values(expires_on=soon))
    recorder = Recorder()
    monkeypatch.setattr(services.users, "notifier", recorder)
    assert report_expiring(services, within_days=30) == {"expiring": 1, "within_days": 30}
    assert recorder.alerts == [
        ("training.expiring", {"within_days": 30, "trainings": [
            {"trainee": "otto", "curriculum": REACTOR, "expires_on": soon.isoformat()}]}),
    ]  # fmt: skip
    assert report_expiring(services, within_days=5)["expiring"] == 0
    assert len(recorder.alerts) == 1


def test_the_job_is_scheduled_daily_and_its_notice_period_is_configurable() -> None:
    jobs = {job.name: job for job in builtin_jobs({})}
    assert jobs["training_expiry"].every == dt.timedelta(days=1)
    assert jobs["training_expiry"].gmp is False
    assert notice_days({"EBR_TRAINING_NOTICE_DAYS": "45"}) == 45
    with pytest.raises(ConfigError, match="not a whole number of days"):
        notice_days({"EBR_TRAINING_NOTICE_DAYS": "soon"})
