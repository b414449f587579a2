"""Fixtures for the ERP integration: an approved, effective recipe for FG-SIMPLE, people, a plant."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.execution.models import Batch
from ebr.integration.models import InboundMessage, OutboxMessage, ProcessOrder
from ebr.integration.setup import Wiring, build
from tests.integration.execution.conftest import PASSWORD, SIMPLE, make_people, make_plant
from tests.support.auth import login

DATA = Path(__file__).resolve().parents[2] / "data" / "b2mml"


ADMIN_PASSWORD = "Integration-Admin-2026!"


def admin_client(app: Flask, services: Services) -> FlaskClient:
    """A test client logged in as Ada, an admin (CSRF off: the pages' forms are posted directly)."""
    app.config["WTF_CSRF_ENABLED"] = False
    with unit_of_work(services.session_factory) as session:
        services.users.create(
            session, actor="system:test", user_id="ada", full_name="Ada Admin", roles=["admin"],
            password=ADMIN_PASSWORD, must_change=False,
        )  # fmt: skip
    client = app.test_client()
    login(client, "ada", ADMIN_PASSWORD)
    return client


def example(name: str) -> bytes:
    return (DATA / name).read_bytes()


def approve_recipe(services: Services, data: dict[str, Any]) -> None:
    with unit_of_work(services.session_factory) as session:
        for user_id, roles in (("anna", ["recipe_author"]), ("paul", ["recipe_approver"])):
            services.users.create(
                session, actor="admin", user_id=user_id, full_name=user_id.title(), roles=roles,
                password=PASSWORD, must_change=False,
            )  # fmt: skip
            services.users.accept_accountability(session, user_id=user_id)
    with unit_of_work(services.session_factory) as session:
        [row] = services.recipes.import_text(session, actor="anna", data=yaml.safe_dump(data), source="test")
        ref = row.label
    with unit_of_work(services.session_factory) as session:
        services.recipes.submit_for_review(session, ref=ref, user_id="anna", password=PASSWORD)
    with unit_of_work(services.session_factory) as session:
        # effective now (an approval cannot be backdated since issue 17/18's merge)
        services.recipes.approve(session, ref=ref, user_id="paul", password=PASSWORD)


def add_materials(services: Services, *codes: str) -> None:
    from ebr.execution.service import build as build_execution

    materials = build_execution(services).materials
    with unit_of_work(services.session_factory) as session:
        for code in codes:
            materials.create_material(session, actor="quinn", code=code, name=code, unit="kg")


def counts(services: Services) -> dict[str, int]:
    """How many rows the integration and execution hold (to prove nothing was stored)."""
    with services.session_factory() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (InboundMessage, ProcessOrder, OutboxMessage, Batch)
        }


@pytest.fixture
def erp(services: Services) -> Wiring:
    """The integration of an installation with people, the reactor and SIMPLE approved for FG-SIMPLE."""
    make_people(services)
    make_plant(services, {"R-101": "unit"})
    approve_recipe(services, SIMPLE)
    return build(services)
