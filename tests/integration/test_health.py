"""GET /healthz reports database reachability and the migration state."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from ebr.app import create_app
from ebr.core.config import load_settings
from ebr.web.registry import services_of


@pytest.mark.requirement("URS-SYS-007")
def test_healthy_when_the_schema_is_at_head(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"]["reachable"] is True
    assert body["schema"]["at_head"] is True


@pytest.mark.requirement("URS-SYS-003")
def test_an_empty_database_answers_503_and_says_to_upgrade(empty_database_url: str, tmp_path: Path) -> None:
    app = create_app(load_settings({"EBR_DATA_DIR": str(tmp_path)}, database_url=empty_database_url, testing=True))
    response = app.test_client().get("/healthz")
    services_of(app).close()
    assert response.status_code == 503
    assert "run `ebr db upgrade`" in response.get_json()["schema"]["detail"]


def test_an_unreachable_database_answers_503_with_the_reason(tmp_path: Path) -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    app = create_app(load_settings({"EBR_DATA_DIR": str(tmp_path)}, database_url=url, testing=True))
    response = app.test_client().get("/healthz")
    services_of(app).close()
    assert response.status_code == 503
    body = response.get_json()
    assert body["database"]["reachable"] is False
    assert "cannot reach the database" in body["database"]["error"]
