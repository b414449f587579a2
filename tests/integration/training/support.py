"""Curricula and trainings made through the JSON API, as QA and a supervisor would."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.integration.execution.api_support import Api
from tests.integration.execution.conftest import PASSWORD

REACTOR = "Reactor R-101"


def today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def add_curriculum(qa: Api, name: str = REACTOR, days: int | None = 365) -> Any:
    body = {"name": name, "sops": ["SOP-R101-01", "SOP-GMP-02"], "validity_days": days}
    return qa.call("POST", "/api/training/curricula", body, expect=201)


def train(by: Api, trainee: str, curriculum: str = REACTOR, **extra: Any) -> Any:
    expect = extra.pop("expect", 201)
    body = {
        "curriculum": curriculum, "trainee": trainee, "trained_on": today(),
        "signature": {"user_id": trainee, "password": PASSWORD},
    } | extra  # fmt: skip
    return by.call("POST", "/api/training/records", body, expect=expect)
