"""The /analytics/ pages, the /api/analytics/ JSON API and the annual product review outputs."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import subprocess

import pikepdf
import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import select

from audit.models import AuditEvent
from ebr.analytics.jobs import evaluate_released
from ebr.analytics.web import SVG_CSP
from ebr.bootstrap import Services
from ebr.cli import main
from ebr.core.canonical import sha256_hex
from ebr.core.db import unit_of_work
from tests.integration.analytics.conftest import PARAMETER
from tests.integration.analytics.support import Plant
from tests.integration.execution.api_support import Api
from tests.integration.execution.conftest import PASSWORD
from tests.support.auth import csrf_token, login

VALUES = ("20.0", "20.4", "19.8", "20.2", "19.9", "24.0")


@pytest.fixture
def made(services: Services, plant: Plant) -> list[str]:
    numbers = [plant.released_batch(v) for v in VALUES]
    with unit_of_work(services.session_factory) as session:
        services.users.create(
            session, actor="admin", user_id="aud", full_name="Ada Auditor", roles=["auditor"], password=PASSWORD,
            must_change=False,
        )  # fmt: skip
    from ebr.analytics import services as analytics

    with unit_of_work(services.session_factory) as session:
        analytics.set_baseline(
            session, services.audit, actor="quinn", parameter_id=PARAMETER, batches=numbers[:5], reason="PPQ"
        )
    evaluate_released(services, actor="system:scheduler")
    return numbers


def _as(app: Flask, user: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, user, PASSWORD).status_code == 302
    return client


@pytest.mark.requirement("URS-CPV-001")
def test_qa_sees_the_chart_page_and_the_chart_is_an_svg_image_under_its_own_csp(app: Flask, made: list[str]) -> None:
    qa = _as(app, "quinn")
    page = qa.get(f"/analytics/parameters/{PARAMETER}?last=10")
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html[:500]
    assert all(number in html for number in made)
    assert "Cpk" in html
    assert "one point beyond 3σ" in html
    assert "<svg" not in html  # the chart is an image: the page keeps the site's CSP (no inline style)
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert " style=" not in html
    assert "style-src 'self'" in page.headers["Content-Security-Policy"]
    image = qa.get(f"/analytics/parameters/{PARAMETER}/chart.svg?last=10")
    assert image.mimetype == "image/svg+xml"
    assert image.headers["Content-Security-Policy"] == SVG_CSP
    assert "<svg" in image.get_data(as_text=True)
    assert qa.get("/analytics/").status_code == 200
    assert "TN-000001" in qa.get("/analytics/notifications").get_data(as_text=True)


@pytest.mark.requirement("URS-CPV-002", "URS-SEC-002")
def test_an_auditor_reads_but_cannot_assess_and_qa_signs_in_the_form(app: Flask, made: list[str]) -> None:
    auditor = _as(app, "aud")
    page = auditor.get("/analytics/notifications/TN-000001")
    assert page.status_code == 200
    assert "Assess and sign" not in page.get_data(as_text=True)
    refused = auditor.post(
        "/analytics/notifications/TN-000001/assessment",
        data={"assessment": "x", "conclusion": "no_action", "sig_user": "aud", "sig_password": PASSWORD,
              "csrf_token": csrf_token(auditor, "/analytics/")},
    )  # fmt: skip
    assert refused.status_code == 403
    qa = _as(app, "quinn")
    token = csrf_token(qa, "/analytics/notifications/TN-000001")
    signed = qa.post(
        "/analytics/notifications/TN-000001/assessment",
        data={"assessment": "Probe drift; recalibrated.", "conclusion": "investigate", "sig_user": "quinn",
              "sig_password": PASSWORD, "csrf_token": token},
    )  # fmt: skip
    assert signed.status_code == 302
    shown = qa.get("/analytics/notifications/TN-000001").get_data(as_text=True)
    assert "reviewed by quinn" in shown
    assert "Probe drift; recalibrated." in shown


@pytest.mark.requirement("URS-CPV-001", "URS-CPV-002")
def test_the_api_gives_the_chart_and_takes_a_signed_assessment(app: Flask, made: list[str]) -> None:
    qa = Api(app.test_client(), "queenie")
    chart = qa.call("GET", f"/api/analytics/parameters/{PARAMETER}/chart?last=6")
    assert [p["value"] for p in chart["points"]] == list(VALUES)
    assert chart["baseline"] == made[:5]
    assert chart["rules_broken"] == [
        {"rule": 1, "description": "one point beyond 3σ", "batch": made[-1], "batches": [made[-1]]}
    ]
    assert chart["capability"]["cpk_ci"][0] < chart["capability"]["cpk"] < chart["capability"]["cpk_ci"][1]
    bad = qa.call("GET", f"/api/analytics/parameters/{PARAMETER}/chart?last=zero", expect=422)
    assert bad["problems"] == ["query.last: Not a valid integer."]
    missing = qa.call("GET", "/api/analytics/parameters/NOPE/chart", expect=404)
    assert "no analytics parameter 'NOPE'" in missing["message"]
    body = {"assessment": "Within normal variation.", "conclusion": "no_action",
            "signature": {"user_id": "queenie", "password": PASSWORD}}  # fmt: skip
    done = qa.call("POST", "/api/analytics/notifications/TN-000001/assessment", body)
    assert (done["status"], done["assessed_by"], done["conclusion"]) == ("assessed", "queenie", "no_action")
    again = qa.call("POST", "/api/analytics/notifications/TN-000001/assessment", body, expect=409)
    assert "already assessed by queenie" in again["message"]


@pytest.mark.requirement("URS-CPV-003")
def test_the_annual_review_is_a_pdf_a_with_its_data_and_csv_and_xlsx_and_each_is_audited(
    app: Flask, services: Services, made: list[str], tmp_path: object
) -> None:
    del tmp_path
    year = services.clock.now().year
    qa = _as(app, "quinn")
    pdf = qa.get(f"/analytics/apr/FG-SIMPLE/{year}.pdf")
    assert pdf.status_code == 200
    assert pdf.mimetype == "application/pdf"
    with pikepdf.open(io.BytesIO(pdf.data)) as document:
        data = json.loads(document.attachments["apr.json"].get_file().read_bytes())
        assert document.open_metadata().get("pdfaid:part") == "3"
    assert data["summary"] == {"made": 6, "released": 6, "rejected": 0, "other": 0}
    assert [p["parameter"] for p in data["parameters"]] == [PARAMETER]
    assert data["parameters"][0]["rules_broken"] == [f"{made[-1]}: one point beyond 3σ"]
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf.data, capture_output=True, check=True).stdout.decode()
    assert "Batches made" in text
    assert "Mixing temperature" in text
    csv_data = qa.get(f"/analytics/apr/FG-SIMPLE/{year}.csv").data
    rows = list(csv.reader(io.StringIO(csv_data.decode())))
    assert rows[0][-1] == PARAMETER
    assert [r[-1] for r in rows[1:]] == list(VALUES)
    xlsx = qa.get(f"/analytics/apr/FG-SIMPLE/{year}.xlsx")
    book = load_workbook(io.BytesIO(xlsx.data))
    assert book.sheetnames == ["Batches", "Deviations", "Recipe changes", "Parameters", "Values"]
    assert [row[2] for row in book["Values"].iter_rows(min_row=2, values_only=True)] == list(VALUES)
    with services.session_factory() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "analytics.apr.produced").order_by(AuditEvent.seq)
        ).all()
        hashes = [json.loads(e.canonical)["after"]["sha256"] for e in events]
    assert hashes == [sha256_hex(pdf.data), sha256_hex(csv_data), sha256_hex(xlsx.data)]
    wrong = qa.get("/analytics/apr/FG-SIMPLE/twenty.pdf", headers={"Accept": "application/json"})
    assert wrong.status_code == 422
    assert wrong.json is not None
    assert wrong.json["message"] == "year 'twenty' is not a year; use four digits such as 2026"


def test_ebr_report_apr_writes_the_review_for_a_qa_user(services: Services, made: list[str], tmp_path: object) -> None:
    from pathlib import Path

    out = Path(str(tmp_path)) / "apr.pdf"
    env = {"EBR_DATABASE_URL": services.settings.database_url, "EBR_DATA_DIR": str(services.settings.data_dir)}
    year = str(dt.datetime.now(dt.UTC).year)
    result = CliRunner().invoke(
        main, ["report", "apr", "FG-SIMPLE", "--year", year, "-o", str(out), "--user", "quinn", "--password-stdin"],
        env=env, input=PASSWORD + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"annual product review of FG-SIMPLE {year}, 6 batches (pdf)" in result.output
    assert out.read_bytes().startswith(b"%PDF")
    refused = CliRunner().invoke(
        main, ["report", "apr", "FG-SIMPLE", "--year", year, "--user", "olga", "--password-stdin"],
        env=env, input=PASSWORD + "\n",
    )  # fmt: skip
    assert refused.exit_code == 2
    assert "'analytics.view' is not permitted" in refused.output
