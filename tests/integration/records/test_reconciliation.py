"""Records ↔ trail reconciliation: direct SQL edits of GMP tables are found and located (issue 16 §5)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from audit.models import AuditEvent
from ebr.bootstrap import Services
from ebr.cli import main
from ebr.core.canonical import canon
from ebr.core.db import unit_of_work
from ebr.ops.images import EXCLUDED, gmp_tables
from ebr.ops.records import RecordsReport, reconcile, verify_records
from recipes.services import ContentMismatch
from tests.integration.records.shop import Shop, make_shop


@pytest.fixture
def shop(services: Services) -> Shop:
    return make_shop(services)


def _report(shop: Shop) -> RecordsReport:
    with shop.services.session_factory() as session:
        return reconcile(session)


def _behind(shop: Shop, sql: str, **params: object) -> None:
    """A direct SQL statement, as a database administrator would type it (no application involved)."""
    with shop.services.engine.begin() as connection:
        connection.execute(text(sql), params)


def _located(report: RecordsReport) -> set[tuple[str, str, str]]:
    return {(f.table, f.key, f.kind) for f in report.findings}


@pytest.mark.requirement("URS-AUD-030")
def test_every_row_written_through_the_application_matches_its_last_image(shop: Shop) -> None:
    report = _report(shop)
    assert report.ok, [f.describe() for f in report.findings]
    assert report.tables == len(gmp_tables())
    assert report.rows > 50
    covered = {t.name for t in gmp_tables()}
    assert {"user_account", "recipe_version", "lot", "container", "batch", "batch_step", "signature"} <= covered
    assert not covered & set(EXCLUDED)


@pytest.mark.requirement("URS-AUD-030")
def test_a_users_roles_set_to_admin_behind_the_application_is_found(shop: Shop) -> None:
    _behind(shop, "UPDATE user_account SET roles = 'admin' WHERE user_id = 'olga'")
    report = _report(shop)
    assert _located(report) == {("user_account", "olga", "changed")}
    assert 'roles is "admin", trail says "operator"' in report.findings[0].detail


@pytest.mark.requirement("URS-AUD-030")
def test_an_approved_recipe_whose_content_was_changed_is_found_and_refused_for_a_batch(shop: Shop) -> None:
    with shop.services.session_factory() as session:
        row_id, content = session.execute(
            text("SELECT id, content FROM recipe_version WHERE name = 'PCM-SOL-24' AND status = 'approved'")
        ).one()
    assert '"24.000"' in content
    _behind(
        shop,
        "UPDATE recipe_version SET content = :c WHERE id = :i",
        c=content.replace('"24.000"', '"48.000"'),
        i=row_id,
    )
    report = _report(shop)
    assert _located(report) == {("recipe_version", row_id, "changed")}
    assert report.findings[0].detail.startswith("content is")
    refused = pytest.raises(
        ContentMismatch, match=r"PCM-SOL-24@1: its stored content no longer matches its content hash"
    )
    with refused, unit_of_work(shop.services.session_factory) as session:
        shop.execution.create_batch(session, actor="sam", recipe="PCM-SOL-24", version=None, size="1000", order="PO-9")
    with shop.services.session_factory() as session:
        assert session.scalar(select(AuditEvent.seq).where(AuditEvent.action == "batch.created").offset(1)) is None


@pytest.mark.requirement("URS-AUD-030")
def test_exporting_a_recipe_whose_content_was_changed_is_refused(shop: Shop, services: Services) -> None:
    _behind(shop, "UPDATE recipe_version SET content = replace(content, '24.000', '48.000') WHERE name = 'PCM-SOL-24'")
    result = CliRunner().invoke(main, ["recipe", "export", "PCM-SOL-24@1", "-o", "-"], obj=services)
    assert result.exit_code != 0
    assert "no longer matches its content hash" in result.output


@pytest.mark.requirement("URS-AUD-030")
def test_a_lot_released_with_quantity_999_and_a_batch_size_changed_are_found(shop: Shop) -> None:
    with shop.services.session_factory() as session:
        lot_id = session.execute(text("SELECT id FROM lot WHERE lot_number = 'RM-PCM-L001'")).scalar_one()
        batch_id = session.execute(text("SELECT id FROM batch WHERE number = :n"), {"n": shop.batch}).scalar_one()
    _behind(shop, "UPDATE lot SET quantity = :q WHERE id = :i", q="999", i=lot_id)
    _behind(shop, "UPDATE batch SET size = :s WHERE id = :i", s="150", i=batch_id)
    report = _report(shop)
    assert _located(report) == {("lot", lot_id, "changed"), ("batch", batch_id, "changed")}
    details = {f.table: f.detail for f in report.findings}
    assert 'quantity is "999", trail says "100"' in details["lot"]
    assert 'size is "150", trail says "100"' in details["batch"]


@pytest.mark.requirement("URS-AUD-030")
def test_a_deleted_and_an_inserted_row_are_found_by_table_and_key(shop: Shop) -> None:
    _behind(shop, "DELETE FROM password_history WHERE user_id = 'alex'")
    _behind(
        shop,
        "INSERT INTO material (code, name, unit, hazardous, allergen, hazard_note, created_at, created_by) "
        "SELECT 'RM-FAKE', name, unit, hazardous, allergen, hazard_note, created_at, created_by "
        "FROM material WHERE code = 'RM-PW'",
    )
    located = _located(_report(shop))
    assert ("material", "RM-FAKE", "not_in_trail") in located
    assert {kind for table, _key, kind in located if table == "password_history"} == {"deleted"}
    assert len(located) == 2


@pytest.mark.requirement("URS-AUD-030")
def test_ebr_audit_verify_records_prints_each_finding_and_exits_1(shop: Shop, services: Services) -> None:
    runner = CliRunner()
    clean = runner.invoke(main, ["audit", "verify", "--records"], obj=services)
    assert clean.exit_code == 0, clean.output
    assert "records OK" in clean.output
    _behind(shop, "UPDATE user_account SET roles = 'admin' WHERE user_id = 'olga'")
    broken = runner.invoke(main, ["audit", "verify", "--records"], obj=services)
    assert broken.exit_code == 1
    assert "FAIL user_account olga: changed (last image at seq" in broken.output
    with services.session_factory() as session:
        last = session.scalars(
            select(AuditEvent.canonical)
            .where(AuditEvent.action == "audit.records.verified")
            .order_by(AuditEvent.seq.desc())
        ).first()
    assert last is not None
    assert json.loads(last)["after"]["findings"] == 1


@pytest.mark.requirement("URS-AUD-030")
def test_healthz_shows_the_last_reconciliation(shop: Shop, client: FlaskClient) -> None:
    assert client.get("/healthz").get_json()["checks"]["audit_records"]["ok"] is False  # never reconciled
    verify_records(shop.services, actor="system:test")
    assert client.get("/healthz").get_json()["checks"]["audit_records"]["ok"] is True
    _behind(shop, "UPDATE lot SET quantity = '999' WHERE lot_number = 'RM-PCM-L001'")
    verify_records(shop.services, actor="system:test")
    body = client.get("/healthz").get_json()
    assert "audit_records" in body["degraded"]
    assert "lot " in body["checks"]["audit_records"]["detail"]
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "ebr_audit_records_match 0.0" in metrics
    assert "ebr_audit_records_findings 1.0" in metrics


@pytest.mark.requirement("URS-AUD-030")
def test_a_baseline_images_rows_written_before_reconciliation_existed(shop: Shop, services: Services) -> None:
    _behind(
        shop,
        "INSERT INTO material (code, name, unit, hazardous, allergen, hazard_note, created_at, created_by) "
        "SELECT 'RM-OLD', name, unit, hazardous, allergen, hazard_note, created_at, created_by "
        "FROM material WHERE code = 'RM-PW'",
    )
    result = CliRunner().invoke(main, ["db", "baseline-records", "--reason", "upgrade to 0.2"], obj=services)
    assert result.exit_code == 0, result.output
    assert "baseline: 1 row(s)" in result.output
    assert _report(shop).ok


@pytest.mark.requirement("URS-AUD-030", "URS-AUD-003")
def test_a_row_edited_together_with_its_image_in_the_trail_is_still_found(shop: Shop) -> None:
    with shop.services.engine.connect() as connection:
        transaction = connection.begin()
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SET LOCAL session_replication_role = replica")  # as a superuser: no trigger
        else:
            connection.exec_driver_sql("DROP TRIGGER audit_event_no_update")
        connection.execute(text("UPDATE user_account SET roles = 'admin' WHERE user_id = 'olga'"))
        seq, event = next(
            (seq, json.loads(data))
            for seq, data in connection.execute(
                select(AuditEvent.seq, AuditEvent.canonical)
                .where(AuditEvent.action == "records.written")
                .order_by(AuditEvent.seq.desc())
            )
            if "olga" in json.loads(data)["after"]["rows"].get("user_account", {})
        )
        event["after"]["rows"]["user_account"]["olga"]["roles"] = "admin"
        forged = canon(event)
        connection.execute(text("UPDATE audit_event SET canonical = :c WHERE seq = :s"), {"c": forged, "s": seq})
        with Session(bind=connection) as session:
            report = reconcile(session)
        transaction.rollback()
    located = _located(report)
    assert ("audit_event", str(seq), "unreadable") in located
    assert {(t, k) for t, k, _kind in located if t == "user_account"} == {("user_account", "olga")}
