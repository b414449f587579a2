"""The integration's adapters: the machine-token API, the CLI, the admin page and the metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select

from audit.models import AuditEvent
from ebr.bootstrap import Services
from ebr.cli import main
from ebr.core.db import unit_of_work
from ebr.integration import tokens
from ebr.integration.b2mml import safe_root
from ebr.integration.setup import Wiring
from tests.integration.integration.conftest import DATA, add_materials, counts, example
from tests.support.auth import login

PASSWORD = "Integration-Admin-2026!"


def make_token(services: Services, name: str = "SAP-PRD") -> str:
    with unit_of_work(services.session_factory) as session:
        return tokens.create(session, audit=services.audit, clock=services.clock, actor="admin", name=name)


@pytest.mark.requirement("URS-INT-001", "URS-INT-002")
def test_the_api_applies_a_message_only_with_a_live_token(app: Flask, erp: Wiring, services: Services) -> None:
    add_materials(services, "API-1", "EXC-1")
    client = app.test_client()
    body = example("v0401-sync-production-schedule.xml")
    assert client.post("/api/integration/b2mml", data=body).status_code == 401
    assert client.post("/api/integration/b2mml", data=body, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert counts(services)["integration_order"] == 0
    token = make_token(services)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/xml"}
    answer = client.post("/api/integration/b2mml", data=body, headers=headers)
    assert answer.status_code == 200
    assert safe_root(answer.data).findtext("{*}DataArea/{*}BOD/{*}Description") == "accepted"
    refused = client.post("/api/integration/b2mml", data=b"<oops", headers=headers)
    assert refused.status_code == 422
    assert "not well-formed" in str(safe_root(refused.data).findtext(".//{*}Note"))
    with services.session_factory() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "erp.message.applied")).one()
    assert b'"channel":"erp:http:SAP-PRD"' in event.canonical
    with unit_of_work(services.session_factory) as session:
        tokens.revoke(
            session, audit=services.audit, clock=services.clock, actor="admin", name="SAP-PRD", reason="rotated"
        )
    assert client.post("/api/integration/b2mml", data=body, headers=headers).status_code == 401


def cli(services: Services, *args: str) -> tuple[int, str]:
    env = {"EBR_DATABASE_URL": services.settings.database_url, "EBR_DATA_DIR": str(services.settings.data_dir)}
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


@pytest.mark.requirement("URS-INT-001")
def test_the_cli_imports_a_file_delivers_and_reports(erp: Wiring, services: Services, tmp_path: Path) -> None:
    add_materials(services, "API-1")
    code, out = cli(
        services, "erp", "import", str(DATA / "v0701-sync-operations-schedule.xml"), "--ack", str(tmp_path / "ack.xml")
    )
    assert code == 0, out
    assert "order 4711000002: planned, batch B" in out
    assert safe_root((tmp_path / "ack.xml").read_bytes()).findtext("{*}DataArea/{*}BOD/{*}Description") == "accepted"
    code, out = cli(services, "erp", "import", str(DATA / "v0701-sync-operations-schedule.xml"))
    assert out.startswith("duplicate message, nothing changed")
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b"<SyncOperationsSchedule xmlns='http://www.mesa.org/xml/B2MML'/>")
    code, out = cli(services, "erp", "import", str(bad))
    assert code == 2
    assert "V0701 schema" in out
    code, out = cli(services, "erp", "status")
    assert code == 0
    assert "orders: planned 1" in out
    inbox = services.settings.data_dir / "erp" / "in"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "order.xml").write_bytes(example("v0401-sync-production-schedule.xml"))
    code, out = cli(services, "erp", "worker", "--once")
    assert code == 0, out
    assert "imported 1 file(s)" in out
    assert (services.settings.data_dir / "erp" / "out" / "ack-order.xml").exists()
    code, out = cli(services, "erp", "outbox", "dead")
    assert out.strip() == "no dead letters"
    code, out = cli(services, "erp", "outbox", "retry", "nope", "--reason", "x")
    assert code == 2
    assert "no outbox message 'nope'" in out


@pytest.mark.requirement("URS-INT-004")
def test_the_admin_sees_the_integration_page_and_the_metrics(app: Flask, erp: Wiring, services: Services) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    with unit_of_work(services.session_factory) as session:
        services.users.create(
            session, actor="system:test", user_id="ada", full_name="Ada Admin", roles=["admin"], password=PASSWORD,
            must_change=False,
        )  # fmt: skip
        erp.outbox.enqueue(session, channel="erp", kind="order_status", body="<x/>", message_id="DEAD-1")
    with unit_of_work(services.session_factory) as session:
        from ebr.integration.models import OutboxMessage

        row = session.scalars(select(OutboxMessage)).one()
        row.status, row.attempts, row.last_error = "dead", 8, "connection refused by 10.0.0.5:5672"
    client = app.test_client()
    login(client, "ada", PASSWORD)
    page = client.get("/admin/integration").get_data(as_text=True)
    assert "connection refused by 10.0.0.5:5672" in page
    assert "Retry DEAD-1" in page
    answer = client.post("/admin/integration/outbox/DEAD-1/retry", data={"reason": "broker back"})
    assert answer.status_code == 302
    with services.session_factory() as session:
        assert session.scalars(select(OutboxMessage.status)).one() == "pending"
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'ebr_integration_outbox_messages{channel="erp",status="pending"} 1.0' in metrics
    assert 'ebr_integration_inbound_messages_total{channel="lims"} 0.0' in metrics
