"""The OEE page with its charts and exports, the tablet's reason choice, the andon board's
first paint and stream, Prometheus metrics and the CLI, on the hand-computed day."""

from __future__ import annotations

import csv
import io
import re

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import select

from ebr.app import create_app
from ebr.bootstrap import Services
from ebr.cli import main
from ebr.performance import web
from ebr.performance.models import StopReason
from tests.integration.execution.conftest import PASSWORD
from tests.integration.performance.support import AREA, UNIT, Line, run_day
from tests.integration.performance.test_api import supervisor_sets_down
from tests.support.auth import csrf_token, login

DAY = {"area": AREA, "since": "2026-03-02", "until": "2026-03-02"}


@pytest.fixture
def day(line: Line) -> str:
    return run_day(line, down=supervisor_sets_down)


def as_user(app: Flask, user: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, user, PASSWORD).status_code == 302
    return client


def test_the_oee_page_shows_the_figures_the_charts_and_the_exports(app: Flask, day: str) -> None:
    client = as_user(app, "quinn")
    page = client.get("/performance/oee", query_string=DAY)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    # The plant day (24 h, one shift around the clock): 70 min running of 24 h − 10 min before the order.
    assert "Production performance: area Formulation" in html
    assert re.search(r"<td>unit R-101</td>|<td>R-101</td>", html)
    for chart in ("timeline", "trend", "pareto"):
        svg = client.get(f"/performance/oee/{chart}.svg", query_string=DAY)
        assert svg.status_code == 200
        assert svg.mimetype == "image/svg+xml"
        assert svg.headers["Content-Security-Policy"] == web.SVG_CSP
        assert b"<svg" in svg.data
    rows = list(
        csv.DictReader(io.StringIO(client.get("/performance/oee.csv", query_string=DAY).get_data(as_text=True)))
    )
    assert [r["scope"] for r in rows] == ["area Formulation", "unit R-101"]
    assert rows[0]["running_s"] == "4200.0"
    book = load_workbook(io.BytesIO(client.get("/performance/oee.xlsx", query_string=DAY).data))
    assert book.sheetnames == ["KPIs", "Downtime Pareto", "Batch durations"]
    assert book["KPIs"]["I2"].value == 4200  # running_s as a number
    assert client.get("/performance/oee", query_string={"since": "yesterday"}).status_code == 422


@pytest.mark.requirement("URS-OEE-002")
def test_an_operator_taps_down_the_reason_tree_and_confirms(app: Flask, day: str, line: Line) -> None:
    client = as_user(app, "olga")
    stops = client.get("/performance/stops", query_string={"area": AREA, "since": "2026-03-02", "until": "2026-03-02"})
    html = stops.get_data(as_text=True)
    link = re.search(r'href="(/performance/stops/(\d+))"', html)
    assert link, html
    top = client.get(link.group(1)).get_data(as_text=True)
    assert "Mechanical" in top
    assert "Material" in top
    level = client.get(link.group(1), query_string={"path": "Mechanical"}).get_data(as_text=True)
    assert "Pump seal" in level
    leaf = client.get(link.group(1), query_string={"path": "Mechanical / Pump seal"}).get_data(as_text=True)
    assert "Record “Mechanical / Pump seal”" in leaf
    token = csrf_token(client, link.group(1))
    done = client.post(
        f"{link.group(1)}/reason", data={"reason": "Mechanical / Pump seal", "csrf_token": token, "area": AREA}
    )
    assert done.status_code == 302
    with line.services.session_factory() as session:
        assert [r.reason for r in session.scalars(select(StopReason))] == ["Mechanical / Pump seal"]
    auditor = as_user(app, "quinn")
    assert auditor.get(link.group(1)).status_code == 403


def test_the_andon_board_shows_the_unit_and_streams_its_changes(app: Flask, day: str) -> None:
    client = as_user(app, "olga")
    page = client.get(f"/andon/{AREA}").get_data(as_text=True)
    assert f'data-unit="{UNIT}" data-state="planned"' in page
    assert "sse-connect" in page
    assert client.get("/andon/Nowhere").status_code == 404
    assert client.get("/andon/Nowhere/stream").status_code == 404
    response = client.get(f"/andon/{AREA}/stream")
    assert response.mimetype == "text/event-stream"
    first = b""
    for chunk in response.response:  # type: ignore[attr-defined]
        first += chunk if isinstance(chunk, bytes) else chunk.encode()
        if b"event: board" in first:
            break
    response.close()
    assert b"event: board" in first
    assert UNIT.encode() in first


def test_prometheus_gives_each_units_state_and_oee_parts(services: Services, day: str) -> None:
    text = create_app(services=services).test_client().get("/metrics").get_data(as_text=True)
    assert f'ebr_unit_state{{area="{AREA}",state="planned",unit="{UNIT}"}} 1.0' in text
    assert f'ebr_unit_state{{area="{AREA}",state="running",unit="{UNIT}"}} 0.0' in text
    assert f'ebr_unit_availability_ratio{{unit="{UNIT}"}}' in text
    assert 'probe="performance"' not in text


def test_the_cli_prints_the_oee_and_checks_a_file(services: Services, day: str) -> None:
    runner = CliRunner()
    env = {"EBR_DATABASE_URL": services.settings.database_url, "EBR_DATA_DIR": str(services.settings.data_dir)}
    found = runner.invoke(
        main,
        ["performance", "oee", "--area", AREA, "--since", "2026-03-02T06:00:00Z", "--until", "2026-03-02T08:00:00Z"],
        env=env,
    )
    assert found.exit_code == 0, found.output
    assert "area Formulation: availability 0.7778 performance 0.7429 quality 1.0000 OEE 0.5778" in found.output
    bad = services.settings.data_dir / "bad.yaml"
    bad.write_text("shifts:\n  - {name: a, start: '6', end: '14:00'}\n", encoding="utf-8")
    refused = runner.invoke(main, ["performance", "check", str(bad)], env=env)
    assert refused.exit_code == 2
    assert "bad.yaml:2: start '6' is not a time" in refused.output
