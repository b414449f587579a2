"""Acknowledging an alarm (interlock trip) in the browser: a comment is required, it is audited, it happens once."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from audit.models import AuditEvent
from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.execution.web_live import unit_fragments
from equipment.models import Alarm
from tests.integration.execution.conftest import PASSWORD, make_plant
from tests.support.auth import csrf_token, login
from tests.support.faults import fail_audit_on

PEOPLE = {
    "olga": "operator",
    "sam": "supervisor",
    "quinn": "qa",
    "alex": "auditor",
    "ada": "admin",
    "rita": "recipe_author",
    "ray": "recipe_approver",
}
MAY_ACKNOWLEDGE = ("olga", "sam")
MAY_NOT = tuple(user for user in PEOPLE if user not in MAY_ACKNOWLEDGE)
BUTTON = "Acknowledge alarm {id} (level high high) on R-101"
COMMENT = "Inflow from the neighbouring line; valve V-7 closed and tagged."


@pytest.fixture
def alarm_id(services: Services) -> int:
    """An open high-high level trip on R-101, as the equipment runtime writes it."""
    with unit_of_work(services.session_factory) as session:
        for user_id, role in PEOPLE.items():
            services.users.create(
                session, actor="system:test", user_id=user_id, full_name=user_id.title(), roles=[role],
                password=PASSWORD, must_change=False,
            )  # fmt: skip
            services.users.accept_accountability(session, user_id=user_id)
    make_plant(services, {"R-101": "unit"})
    with unit_of_work(services.session_factory) as session:
        alarm = Alarm(
            at=services.clock.now() - dt.timedelta(minutes=2), unit="R-101", phase_ref="B1:UP1.OP1.PH4",
            condition="level_high_high", tag="R-101.level", value="1795", message="dosing stopped at high-high level",
        )  # fmt: skip
        session.add(alarm)
        session.flush()
        return alarm.id


def client_for(app: Flask, user_id: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, user_id, PASSWORD).status_code == 302
    return client


def htmx(client: FlaskClient, page: str) -> dict[str, str]:
    return {"HX-Request": "true", "HX-Target": "alarms", "X-CSRFToken": csrf_token(client, page)}


def acknowledged(services: Services, alarm_id: int) -> tuple[str | None, list[tuple[str, str | None]]]:
    """Who acknowledged the alarm, and the audit events of its acknowledgement (actor, comment)."""
    with services.session_factory() as session:
        alarm = session.get(Alarm, alarm_id)
        assert alarm is not None
        events = session.execute(
            select(AuditEvent.actor, AuditEvent.reason).where(
                AuditEvent.action == "equipment.alarm.acknowledged", AuditEvent.entity_id == str(alarm_id)
            )
        )
        return alarm.acknowledged_by, [(actor, reason) for actor, reason in events]


@pytest.mark.requirement("URS-EQP-003", "URS-VAL-003")
def test_an_operator_acknowledges_an_open_alarm_with_a_comment_and_it_leaves_the_open_list(
    app: Flask, services: Services, alarm_id: int
) -> None:
    olga = client_for(app, "olga")
    page = olga.get("/equipment/alarms").get_data(as_text=True)
    assert BUTTON.format(id=alarm_id) in page
    assert f"Comment on alarm {alarm_id} (required: what was found, what was done)" in page

    answer = olga.post(
        f"/equipment/alarms/{alarm_id}/acknowledge", data={"comment": COMMENT}, headers=htmx(olga, "/equipment/alarms")
    )

    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert html.startswith('<section id="alarms"')
    assert f'role="status">Alarm {alarm_id} (level high high on R-101) acknowledged.' in html
    assert "No open alarms." in html
    assert BUTTON.format(id=alarm_id) not in html
    row = re.search(rf'<tr id="alarm-{alarm_id}">(.*?)</tr>', html, re.S)
    assert row is not None
    assert "olga" in row.group(1)
    assert COMMENT in row.group(1)
    assert acknowledged(services, alarm_id) == ("olga", [("olga", COMMENT)])
    with app.test_request_context():
        assert "HIGH HIGH" not in unit_fragments("R-101")["alarms"]  # gone from the live banners too


@pytest.mark.requirement("URS-EQP-003")
def test_a_supervisor_acknowledges_on_the_unit_page_and_sees_who_when_and_why(
    app: Flask, services: Services, alarm_id: int
) -> None:
    sam = client_for(app, "sam")
    unit = sam.get("/equipment/R-101").get_data(as_text=True)
    assert "Alarms of R-101" in unit
    assert BUTTON.format(id=alarm_id) in unit
    form = {"comment": COMMENT, "scope": "R-101", "csrf_token": csrf_token(sam, "/equipment/R-101")}

    answer = sam.post(f"/equipment/alarms/{alarm_id}/acknowledge", data=form)

    assert answer.status_code == 302
    assert answer.headers["Location"].endswith("/equipment/R-101")
    unit = sam.get("/equipment/R-101").get_data(as_text=True)
    assert f"Alarm {alarm_id} (level high high on R-101) acknowledged." in unit
    assert BUTTON.format(id=alarm_id) not in unit
    assert COMMENT in unit
    assert "sam" in unit
    assert acknowledged(services, alarm_id) == ("sam", [("sam", COMMENT)])


@pytest.mark.requirement("URS-EQP-003")
def test_an_alarm_without_a_comment_stays_open_and_says_what_is_missing(
    app: Flask, services: Services, alarm_id: int
) -> None:
    olga = client_for(app, "olga")
    answer = olga.post(
        f"/equipment/alarms/{alarm_id}/acknowledge", data={"comment": "   "}, headers=htmx(olga, "/equipment/alarms")
    )
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert 'role="alert"' in html
    assert f"a comment is required to acknowledge alarm {alarm_id}" in html
    assert BUTTON.format(id=alarm_id) in html  # still open, the form is there again
    assert acknowledged(services, alarm_id) == (None, [])


@pytest.mark.requirement("URS-EQP-003")
def test_an_alarm_acknowledged_twice_gives_a_clear_error_and_keeps_the_first(
    app: Flask, services: Services, alarm_id: int
) -> None:
    olga, sam = client_for(app, "olga"), client_for(app, "sam")
    olga_headers, sam_headers = htmx(olga, "/equipment/alarms"), htmx(sam, "/equipment/alarms")
    url = f"/equipment/alarms/{alarm_id}/acknowledge"
    assert olga.post(url, data={"comment": COMMENT}, headers=olga_headers).status_code == 200

    second = sam.post(url, data={"comment": "me too"}, headers=sam_headers)

    assert second.status_code == 409
    html = second.get_data(as_text=True)
    assert f"alarm {alarm_id} was already acknowledged by olga" in html
    assert 'role="alert"' in html
    assert acknowledged(services, alarm_id) == ("olga", [("olga", COMMENT)])
    plain = sam.post(url, data={"comment": "again", "csrf_token": csrf_token(sam, "/equipment/alarms")})
    assert plain.status_code == 409
    assert "was already acknowledged by olga" in plain.get_data(as_text=True)


def test_an_unknown_alarm_is_named_in_the_refusal(app: Flask, alarm_id: int) -> None:
    olga = client_for(app, "olga")
    headers = htmx(olga, "/equipment/alarms")
    missing = olga.post(f"/equipment/alarms/{alarm_id + 99}/acknowledge", data={"comment": COMMENT}, headers=headers)
    assert missing.status_code == 404
    assert f"no alarm {alarm_id + 99}" in missing.get_data(as_text=True)
    assert (
        olga.post("/equipment/alarms/not-a-number/acknowledge", data={"comment": COMMENT}, headers=headers).status_code
        == 404
    )


@pytest.mark.requirement("URS-SEC-002")
@pytest.mark.parametrize("user", MAY_NOT)
def test_other_roles_see_the_alarms_but_may_not_acknowledge_them(
    app: Flask, services: Services, alarm_id: int, user: str
) -> None:
    client = client_for(app, user)
    page = client.get("/equipment/alarms")
    assert page.status_code == 200
    assert f"Alarm {alarm_id}: LEVEL HIGH HIGH on R-101" in page.get_data(as_text=True)
    assert BUTTON.format(id=alarm_id) not in page.get_data(as_text=True)
    refused = client.post(
        f"/equipment/alarms/{alarm_id}/acknowledge",
        data={"comment": COMMENT},
        headers=htmx(client, "/equipment/alarms"),
    )
    assert refused.status_code == 403
    assert acknowledged(services, alarm_id) == (None, [])


@pytest.mark.requirement("URS-EQP-003")
def test_the_acknowledgement_and_its_audit_event_commit_together_or_not_at_all(
    app: Flask, services: Services, alarm_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_audit_on(monkeypatch, services, "equipment.alarm.acknowledged")
    olga = client_for(app, "olga")
    answer = olga.post(
        f"/equipment/alarms/{alarm_id}/acknowledge", data={"comment": COMMENT}, headers=htmx(olga, "/equipment/alarms")
    )
    assert answer.status_code == 400
    assert "the audit trail is unavailable" in answer.get_data(as_text=True)
    assert acknowledged(services, alarm_id) == (None, [])


def test_the_board_counts_open_alarms_and_the_live_banner_leads_to_the_form(
    app: Flask, services: Services, alarm_id: int
) -> None:
    olga = client_for(app, "olga")
    assert "Alarms: 1 to acknowledge" in olga.get("/equipment/").get_data(as_text=True)
    link = f'href="/equipment/alarms#alarm-{alarm_id}">Go to alarm {alarm_id} on R-101 to acknowledge it</a>'
    stream = olga.get("/live/units/R-101", buffered=False)
    try:
        received = ""
        for chunk in stream.response:
            received += chunk.decode() if isinstance(chunk, bytes) else chunk
            if "event: alarms" in received:
                break
    finally:
        stream.close()
    assert link in received
    with services.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Alarm)) == 1
