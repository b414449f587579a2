"""The integration's adapters: the machine-token API, the CLI, the admin page and the metrics."""

from __future__ import annotations

import datetime as dt
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
from ebr.integration.models import MachineToken
from ebr.integration.setup import Wiring
from tests.integration.integration.conftest import DATA, add_materials, admin_client, counts, example

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


@pytest.mark.requirement("URS-INT-027")
def test_a_live_token_of_another_scope_is_forbidden_naming_the_scope_and_audited(
    app: Flask, erp: Wiring, services: Services
) -> None:
    add_materials(services, "API-1", "EXC-1")
    client = app.test_client()
    body = example("v0401-sync-production-schedule.xml")
    with unit_of_work(services.session_factory) as session:
        lims = tokens.create(
            session, audit=services.audit, clock=services.clock, actor="admin", name="LIMS-1", scope=tokens.LIMS
        )
    expired = make_token(services, "SAP-OLD")
    with unit_of_work(services.session_factory) as session:
        row = session.scalars(select(MachineToken).where(MachineToken.name == "SAP-OLD")).one()
        row.expires_at = services.clock.now() - dt.timedelta(seconds=1)
    before = counts(services)

    def post(token: str | None) -> tuple[int, str, str | None]:
        headers = {"Content-Type": "application/xml"} | ({"Authorization": f"Bearer {token}"} if token else {})
        answer = client.post("/api/integration/b2mml", data=body, headers=headers)
        return answer.status_code, answer.get_data(as_text=True), answer.headers.get("WWW-Authenticate")

    status, text, challenge = post(lims)  # a live token, but the LIMS's
    assert (status, challenge) == (403, None)
    assert text.count("\n") == 1
    assert "scope lims:results, not b2mml:inbound" in text
    assert "needs a token of scope b2mml:inbound" in text
    for refused in (None, "ebr_not-a-token", expired):  # no, unknown or expired token: unauthenticated
        status, text, challenge = post(refused)
        assert (status, challenge) == (401, "Bearer"), text
    assert "expired" in post(expired)[1]
    assert counts(services) == before  # nothing read, nothing stored
    with services.session_factory() as session:
        audited = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "integration.token.refused").order_by(AuditEvent.seq)
        ).all()
    assert [e.entity_id for e in audited] == ["LIMS-1", "SAP-OLD", "SAP-OLD"]  # known tokens only
    assert b'"scope":"b2mml:inbound"' in audited[0].canonical
    assert b"not b2mml:inbound" in audited[0].canonical


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
    client = admin_client(app, services)
    with unit_of_work(services.session_factory) as session:
        erp.outbox.enqueue(session, channel="erp", kind="order_status", body="<x/>", message_id="DEAD-1")
    with unit_of_work(services.session_factory) as session:
        from ebr.integration.models import OutboxMessage

        row = session.scalars(select(OutboxMessage)).one()
        row.status, row.attempts, row.last_error = "dead", 8, "connection refused by 10.0.0.5:5672"
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
