"""/healthz installation checks, /metrics, and JSON request logs without secrets."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ebr.app import create_app
from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.jobs.guards import guard_for
from ebr.jobs.runner import JobContext, JobRunner, JobSpec
from ebr.jobs.scheduler import beat
from ebr.ops.logging import JsonFormatter
from ebr.trail import services as audit_service
from signatures.permissions import Role

PASSWORD = "Correct-Horse-Battery-9!"


def _fail(_context: JobContext) -> None:
    raise RuntimeError("lot table locked")


def _failing_run(services: Services, tmp_path: Path) -> None:
    spec = JobSpec(name="lot_expiry", func=_fail, every=dt.timedelta(minutes=5), description="t", attempts=1)
    JobRunner(services=services, specs=[spec], guard=guard_for(services.engine, tmp_path)).run("lot_expiry")


@pytest.mark.requirement("URS-SYS-007")
def test_healthz_names_what_is_not_running_on_a_fresh_installation(client: FlaskClient) -> None:
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok"
    assert {"scheduler", "runtime", "audit_chain"} <= set(body["degraded"])
    assert "ebr scheduler" in body["checks"]["scheduler"]["detail"]
    assert body["checks"]["jobs"]["ok"] is True


@pytest.mark.requirement("URS-SYS-007")
def test_healthz_reports_the_scheduler_heartbeat_chain_verification_and_failing_jobs(
    client: FlaskClient, services: Services, tmp_path: Path
) -> None:
    audit_service.ensure_system_key(services)
    beat(services, "host-a:1", services.clock.now())
    audit_service.verify_live(services)
    _failing_run(services, tmp_path)
    body = client.get("/healthz").get_json()
    checks = body["checks"]
    assert checks["scheduler"]["ok"] is True
    assert checks["audit_chain"]["ok"] is True
    assert checks["audit_chain"]["verified_at"].endswith("Z")
    assert checks["jobs"]["ok"] is False
    assert checks["jobs"]["failing"][0]["job"] == "lot_expiry"
    assert "lot table locked" in checks["jobs"]["failing"][0]["last_error"]
    assert "scheduler" not in body["degraded"]
    assert "jobs" in body["degraded"]


def _sample(text: str, name: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(name)]


@pytest.mark.requirement("URS-SYS-007")
def test_metrics_expose_audit_chain_jobs_and_request_latency(
    client: FlaskClient, services: Services, tmp_path: Path
) -> None:
    audit_service.ensure_system_key(services)
    audit_service.verify_live(services)
    _failing_run(services, tmp_path)
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert _sample(text, "ebr_audit_chain_intact ") == ["ebr_audit_chain_intact 1.0"]
    assert _sample(text, "ebr_audit_events_total ")  # the verification itself is an event
    assert 'ebr_scheduled_job_failures_total{job="lot_expiry"} 1.0' in text
    assert 'ebr_http_request_duration_seconds_count{endpoint="/healthz",method="GET",status="200"} 1.0' in text
    assert "ebr_metrics_probe_errors{" not in text  # every family could be read


def test_two_apps_in_one_process_keep_their_own_metrics(services: Services) -> None:
    first, second = create_app(services=services), create_app(services=services)
    first.test_client().get("/healthz")
    text = second.test_client().get("/metrics").get_data(as_text=True)
    assert 'endpoint="/healthz"' not in text


@pytest.fixture
def log_output(app: Flask) -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


@pytest.mark.requirement("URS-SEC-003")  # a password is kept only as a hash: never in a log
def test_a_password_given_at_login_never_appears_in_the_log(
    app: Flask, services: Services, log_output: io.StringIO
) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    with unit_of_work(services.session_factory) as session:
        services.users.create(
            session,
            actor="system:test",
            user_id="olga",
            full_name="Olga Operator",
            roles=[Role.operator],
            password=PASSWORD,
            must_change=False,
        )
    client = app.test_client()
    client.post("/auth/login", data={"user_id": "olga", "password": PASSWORD + "x"})
    response = client.post("/auth/login", data={"user_id": "olga", "password": PASSWORD})
    assert response.status_code == 302
    client.get("/", headers={"X-Request-ID": "trace-42"})
    output = log_output.getvalue()
    assert PASSWORD not in output
    lines = [json.loads(line) for line in output.splitlines()]
    access = [line for line in lines if line["logger"] == "ebr.web.access"]
    assert len(access) >= 3
    assert all(line.get("request_id") for line in access)
    traced = [line for line in access if line["request_id"] == "trace-42"]
    assert traced
    assert traced[0]["user"] == "olga"


def test_each_access_line_says_how_long_the_request_took_and_how_much_cpu_it_used(
    app: Flask, services: Services, log_output: io.StringIO
) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    with unit_of_work(services.session_factory) as session:
        services.users.create(
            session, actor="system:test", user_id="olga", full_name="Olga Operator", roles=[Role.operator],
            password=PASSWORD, must_change=False,
        )  # fmt: skip
    client = app.test_client()
    assert client.post("/auth/login", data={"user_id": "olga", "password": PASSWORD}).status_code == 302
    lines = [json.loads(line) for line in log_output.getvalue().splitlines()]
    (login,) = [line for line in lines if line["logger"] == "ebr.web.access" and "/auth/login" in line["message"]]
    # The login checks the password with Argon2id: CPU work the request thread did itself.
    assert login["cpu_ms"] > 1
    assert login["cpu_ms"] <= login["duration_ms"] + 1  # one thread's CPU time never exceeds its wall time


@pytest.mark.requirement("URS-SYS-007")
def test_one_silent_runtime_among_several_areas_is_named_by_healthz(client: FlaskClient, services: Services) -> None:
    from equipment.models import Heartbeat

    now = services.clock.now()
    with unit_of_work(services.session_factory) as session:
        for runtime, area, age in (("rt-a", "granulation", 0), ("rt-b", "filling", 30), ("rt-old", "retired", 90000)):
            beat = now - dt.timedelta(seconds=age)
            session.add(
                Heartbeat(
                    runtime_id=runtime,
                    area=area,
                    host="h",
                    pid=1,
                    started_at=beat,
                    beat_at=beat,
                    connected=True,
                    detail="connected",
                )
            )
    check = client.get("/healthz").get_json()["checks"]["runtime"]
    assert check["ok"] is False
    assert check["detail"] == "stale: no live runtime for area filling"
    assert {r["area"]: r["alive"] for r in check["runtimes"]} == {"granulation": True, "filling": False}
    assert {r["runtime"]: r["state"] for r in check["runtimes"]} == {"rt-a": "alive", "rt-b": "stale"}
    assert check["areas"] == {"granulation": "alive", "filling": "stale"}


@pytest.mark.requirement("URS-SYS-007")
def test_an_area_whose_runtime_was_replaced_by_a_new_one_is_healthy(client: FlaskClient, services: Services) -> None:
    from equipment.models import Heartbeat

    now = services.clock.now()
    with unit_of_work(services.session_factory) as session:
        for runtime, age, detail in (("rt-1", 600, "stopped"), ("rt-2", 300, "connected"), ("rt-3", 0, "connected")):
            beat = now - dt.timedelta(seconds=age)
            session.add(
                Heartbeat(runtime_id=runtime, area="liquids", host="h", pid=1, started_at=beat, beat_at=beat,
                          connected=True, detail=detail)
            )  # fmt: skip
    check = client.get("/healthz").get_json()["checks"]["runtime"]
    assert check["ok"] is True
    assert check["detail"].startswith("every area has a live runtime; replaced and silent: rt-2 (liquids, silent 300")
    assert "all alive" not in check["detail"]
    details = {r["runtime"]: r["detail"] for r in check["runtimes"]}
    assert details["rt-1"] == "stopped"
    assert details["rt-2"].startswith("silent for 300")
    assert details["rt-2"].endswith("(area liquids is served by a newer runtime)")
    assert details["rt-3"] == "connected"
    assert {r["runtime"]: r["state"] for r in check["runtimes"]} == {
        "rt-1": "stopped", "rt-2": "replaced", "rt-3": "alive"
    }  # fmt: skip
