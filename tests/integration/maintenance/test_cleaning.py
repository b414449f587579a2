"""A cleaning is recorded by the plant's floor (operator, supervisor: ``equipment.clean``) on the
equipment page, through the API and with ``ebr equipment clean``; the administrator, who manages
equipment but never writes GMP records, is refused and nothing is stored."""

from __future__ import annotations

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy import func, select

from audit.models import AuditEvent
from ebr.bootstrap import Services
from ebr.cli import main
from ebr.core.db import unit_of_work
from equipment.models import CleaningRecord
from signatures.permissions import PERMISSIONS, Role, allowed
from tests.integration.execution.api_support import Api
from tests.integration.execution.conftest import PASSWORD, Floor
from tests.support.auth import csrf_token, login


def _admin(services: Services) -> None:
    with unit_of_work(services.session_factory) as session:
        services.users.create(
            session, actor="system:test", user_id="adam", full_name="Adam Admin", roles=["admin"], password=PASSWORD,
            must_change=False,
        )  # fmt: skip


def _counts(services: Services) -> tuple[int, int]:
    with services.session_factory() as session:
        return (
            session.scalar(select(func.count()).select_from(CleaningRecord)) or 0,
            session.scalar(select(func.count()).where(AuditEvent.action == "equipment.cleaning.recorded")) or 0,
        )


def _ebr(services: Services, *args: str) -> Result:
    env = {"EBR_DATABASE_URL": services.settings.database_url, "EBR_DATA_DIR": str(services.settings.data_dir)}
    return CliRunner().invoke(main, list(args), env=env, input=PASSWORD + "\n")


@pytest.mark.requirement("URS-EQP-030")
def test_the_floor_may_clean_and_the_administrator_gains_no_gmp_action() -> None:
    assert allowed([Role.operator], "equipment.clean")
    assert allowed([Role.supervisor], "equipment.clean")
    for role in (Role.admin, Role.auditor, Role.qa, Role.recipe_author, Role.recipe_approver):
        assert not allowed([role], "equipment.clean"), role
    assert "equipment.manage" in PERMISSIONS[Role.admin]  # the admin keeps the status changes


@pytest.mark.requirement("URS-EQP-030")
@pytest.mark.parametrize("who", ["olga", "sam"])
def test_an_operator_or_supervisor_records_a_cleaning_through_the_api(
    app: Flask, floor: Floor, services: Services, who: str
) -> None:
    floor.work(services.equipment.mark_dirty, actor="olga", unit="R-101")
    person = Api(app.test_client(), who)
    made = person.call(
        "POST", "/api/equipment/R-101/cleanings", {"method": "SOP-CLN-001", "comment": "after PO-1"}, 201
    )
    assert made["actor"] == who
    assert made["expires_at"]
    assert person.call("GET", "/api/equipment/R-101")["status"] == "clean"


@pytest.mark.requirement("URS-EQP-030")
@pytest.mark.parametrize("who", ["adam", "quinn"])
def test_the_administrator_and_qa_are_refused_a_cleaning_and_nothing_is_stored(
    app: Flask, floor: Floor, services: Services, who: str
) -> None:
    _admin(services)
    floor.work(services.equipment.mark_dirty, actor="olga", unit="R-101")
    before = _counts(services)
    refused = Api(app.test_client(), who).call("POST", "/api/equipment/R-101/cleanings", {"method": "CIP"}, 403)
    assert "equipment.clean" in refused["message"]
    web = app.test_client()
    login(web, who, PASSWORD)
    token = csrf_token(web, "/equipment/R-101")
    page = web.post("/equipment/R-101/cleaning", data={"csrf_token": token, "method": "CIP"})
    assert page.status_code == 403
    assert 'action="/equipment/R-101/cleaning"' not in web.get("/equipment/R-101").get_data(as_text=True)
    cli = _ebr(services, "equipment", "clean", "R-101", "--method", "CIP", "--user", who, "--password-stdin")
    assert cli.exit_code != 0
    assert "equipment.clean" in cli.output
    assert _counts(services) == before


@pytest.mark.requirement("URS-EQP-030")
def test_the_operator_records_a_cleaning_on_the_equipment_page_but_changes_no_status(
    app: Flask, floor: Floor, services: Services
) -> None:
    floor.work(services.equipment.mark_dirty, actor="olga", unit="R-101")
    web = app.test_client()
    login(web, "olga", PASSWORD)
    page = web.get("/equipment/R-101").get_data(as_text=True)
    assert 'action="/equipment/R-101/cleaning"' in page
    assert 'action="/equipment/R-101/status"' not in page
    token = csrf_token(web, "/equipment/R-101")
    done = web.post("/equipment/R-101/cleaning", data={"csrf_token": token, "method": "SOP-CLN-001 wet wipe"})
    assert done.status_code == 302
    with services.session_factory() as session:
        cleaned = services.equipment.cleanings(session, "R-101")[-1]
        assert (cleaned.actor, cleaned.method) == ("olga", "SOP-CLN-001 wet wipe")
        assert services.equipment.get(session, "R-101").status == "clean"


@pytest.mark.requirement("URS-EQP-030")
def test_ebr_equipment_clean_records_the_cleaning_of_the_person_who_proved_it(floor: Floor, services: Services) -> None:
    floor.work(services.equipment.mark_dirty, actor="olga", unit="R-101")
    before = _counts(services)
    wrong = CliRunner().invoke(
        main, ["equipment", "clean", "R-101", "--method", "CIP", "--user", "olga", "--password-stdin"],
        env={"EBR_DATABASE_URL": services.settings.database_url, "EBR_DATA_DIR": str(services.settings.data_dir)},
        input="not her password\n",
    )  # fmt: skip
    assert wrong.exit_code != 0
    assert _counts(services) == before
    done = _ebr(
        services, "equipment", "clean", "R-101", "--method", "SOP-CLN-001", "--user", "olga", "--password-stdin"
    )
    assert done.exit_code == 0, done.output
    assert "R-101: cleaning recorded by olga" in done.output
    assert _counts(services) == (before[0] + 1, before[1] + 1)
