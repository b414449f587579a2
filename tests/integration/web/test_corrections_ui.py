"""Correcting a recorded value in the browser: reason and signature, the original stays, a refusal stores nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from audit.models import AuditEvent
from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.execution.models import Deviation, RecordSignature, StepEntry
from ebr.execution.service import build
from tests.integration.execution.conftest import PASSWORD, SIMPLE, make_people, make_plant, recipe, sig
from tests.support.auth import csrf_token, login
from tests.support.faults import fail_audit_on

PATH = "UP1.OP1.PH3"  # a numeric data entry, limits 15–30 °C
READ_ONLY = ("quinn", "alex", "ada", "rita")  # QA, auditor, admin, recipe author: may view, may not correct


@dataclass
class Recorded:
    number: str
    entry_id: str


def work(services: Services, fn: Any, /, **kwargs: Any) -> Any:
    with unit_of_work(services.session_factory) as session:
        return fn(session, **kwargs)


@pytest.fixture
def recorded(services: Services) -> Recorded:
    """A batch in execution whose temperature step is running with 21.5 °C recorded by olga."""
    make_people(services)
    with unit_of_work(services.session_factory) as session:
        for user_id, role in (("alex", "auditor"), ("ada", "admin"), ("rita", "recipe_author")):
            services.users.create(
                session, actor="system:test", user_id=user_id, full_name=user_id.title(), roles=[role],
                password=PASSWORD, must_change=False,
            )  # fmt: skip
            services.users.accept_accountability(session, user_id=user_id)
    make_plant(services, {"R-101": "unit"})
    ex = build(services)
    number = work(
        services, ex.create_from_recipe, actor="sam", master=recipe(SIMPLE), version="1", size="100", order="PO-1"
    ).number
    work(services, ex.release_to_floor, actor="sam", ref=number)
    work(services, ex.start_batch, actor="olga", ref=number)
    for path, signers in (("UP1.OP1.PH1", [sig("olga")]), ("UP1.OP1.PH2", [sig("olga"), sig("sam", "verified")])):
        work(services, ex.start_step, actor="olga", ref=number, path=path)
        work(services, ex.complete_step, actor="olga", ref=number, path=path, signatures=signers)
    work(services, ex.start_step, actor="olga", ref=number, path=PATH)
    outcome = work(services, ex.record, actor="olga", ref=number, path=PATH, values={"value": "21.5"})
    return Recorded(number, outcome.entries[0].id)


def client_for(app: Flask, user_id: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, user_id, PASSWORD).status_code == 302
    return client


def htmx(client: FlaskClient, page: str, target: str) -> dict[str, str]:
    """The headers htmx sends from ``page`` (its CSRF header comes from the page's body)."""
    return {"HX-Request": "true", "HX-Target": target, "X-CSRFToken": csrf_token(client, page)}


def correction(value: str = "22.5", reason: str = "typo: the display showed 22.5", **extra: str) -> dict[str, str]:
    return {"value": value, "reason": reason, "sig_user": "olga", "sig_password": PASSWORD, **extra}


def url(case: Recorded, entry_id: str | None = None) -> str:
    return f"/batches/{case.number}/entries/{entry_id or case.entry_id}/correction"


def stored(services: Services) -> tuple[int, int, int]:
    """Values recorded, corrections audited, signatures on corrections: all unchanged by a refusal."""
    with services.session_factory() as session:
        entries = session.scalar(select(func.count()).select_from(StepEntry)) or 0
        audited = session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "batch.entry.corrected")
        )
        signed = session.scalar(
            select(func.count()).select_from(RecordSignature).where(RecordSignature.subject_type == "step_entry")
        )
    return entries, audited or 0, signed or 0


def superseded(services: Services, entry_id: str) -> bool:
    with services.session_factory() as session:
        entry = session.get(StepEntry, entry_id)
        assert entry is not None
        return entry.superseded_at is not None


@pytest.mark.requirement("URS-BAT-005")
def test_an_operator_corrects_a_value_in_the_step_panel_and_sees_the_original_struck_through(
    app: Flask, services: Services, recorded: Recorded
) -> None:
    olga = client_for(app, "olga")
    page = f"/batches/{recorded.number}"
    panel = olga.get(page).get_data(as_text=True)
    assert 'aria-label="Correct value of step UP1.OP1.PH3" data-needs-connection>Correct</button>' in panel
    assert "Sign correction" in panel
    assert "What is signed" in panel
    assert "performed" in panel

    answer = olga.post(url(recorded), data=correction(), headers=htmx(olga, page, "work"))

    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert html.startswith('<div id="work">')
    assert 'role="status">Step UP1.OP1.PH3, value corrected: 21.5 → 22.5 °C.' in html
    assert "<del>21.5 °C</del>" in html
    assert "corrected by olga" in html
    assert "typo: the display showed 22.5" in html
    assert "signed (performed) by olga" in html
    with services.session_factory() as session:
        new = session.scalars(select(StepEntry).where(StepEntry.corrects == recorded.entry_id)).one()
        assert (new.value, new.recorded_by, new.correction_reason) == ("22.5", "olga", "typo: the display showed 22.5")
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "batch.entry.corrected")).one()
        assert (event.actor, event.reason) == ("olga", "typo: the display showed 22.5")
        signature = session.scalars(select(RecordSignature).where(RecordSignature.subject_id == new.id)).one()
        assert (signature.meaning, signature.signer) == ("performed", "olga")
    assert superseded(services, recorded.entry_id)


@pytest.mark.requirement("URS-BAT-005", "URS-BAT-003")
def test_a_supervisor_corrects_on_the_step_page_and_an_out_of_limit_value_opens_a_deviation(
    app: Flask, services: Services, recorded: Recorded
) -> None:
    sam = client_for(app, "sam")
    page = f"/batches/{recorded.number}/steps/{PATH}"
    form = correction("35", "transposed digits", sig_user="sam")

    answer = sam.post(url(recorded), data=form, headers=htmx(sam, page, "values"))

    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert html.startswith('<section id="values"')
    assert "<del>21.5 °C</del>" in html
    assert "out of limits" in html
    assert "deviation DEV-" in html
    with services.session_factory() as session:
        deviation = session.scalars(select(Deviation)).one()
        assert deviation.description.startswith("corrected value:")


@pytest.mark.requirement("URS-BAT-005")
def test_without_htmx_the_correction_redirects_to_the_step_page_with_its_history(
    app: Flask, services: Services, recorded: Recorded
) -> None:
    olga = client_for(app, "olga")
    page = f"/batches/{recorded.number}/steps/{PATH}"
    form = correction() | {"csrf_token": csrf_token(olga, page)}

    answer = olga.post(url(recorded), data=form)

    assert answer.status_code == 302
    assert answer.headers["Location"].endswith(page)
    html = olga.get(page).get_data(as_text=True)
    assert "Step UP1.OP1.PH3, value corrected: 21.5 → 22.5 °C." in html
    assert '<tr class="superseded">' in html
    assert "<del>21.5 °C</del>" in html
    assert "replaced</span> by 22.5 °C" in html


REFUSALS = {
    "wrong password": (correction() | {"sig_password": "wrong"}, 403, "password"),
    "empty reason": (correction(reason="  "), 422, "a correction needs a reason"),
    "empty value": (correction(value=""), 422, "Temperature"),
    "not a number": (correction(value="abc"), 422, "is not a number; enter digits"),
    "no signature": (correction() | {"sig_user": "", "sig_password": ""}, 422, "must be signed"),
}


@pytest.mark.requirement("URS-BAT-005")
@pytest.mark.parametrize("case", list(REFUSALS), ids=list(REFUSALS))
def test_a_refused_correction_says_why_reopens_the_dialog_and_stores_nothing(
    app: Flask, services: Services, recorded: Recorded, case: str
) -> None:
    form, status, message = REFUSALS[case]
    olga = client_for(app, "olga")
    before = stored(services)

    answer = olga.post(url(recorded), data=form, headers=htmx(olga, f"/batches/{recorded.number}", "work"))

    assert answer.status_code == status
    html = answer.get_data(as_text=True)
    alert = re.search(r'role="alert">(.*?)</div>', html, re.S)
    assert alert is not None
    assert message in alert.group(1)
    assert f'id="corr-{recorded.entry_id}" aria-labelledby="corr-{recorded.entry_id}-h" data-auto-open' in html
    assert PASSWORD not in html  # what was typed comes back, never the password
    assert stored(services) == before
    assert not superseded(services, recorded.entry_id)


@pytest.mark.requirement("URS-BAT-005")
def test_values_from_equipment_a_corrected_value_and_a_closed_batch_cannot_be_corrected(
    app: Flask, services: Services, recorded: Recorded
) -> None:
    olga = client_for(app, "olga")
    page = f"/batches/{recorded.number}/steps/UP1.OP1.PH1"
    with services.session_factory() as session:
        checked = session.scalars(select(StepEntry).where(StepEntry.name == "clean")).one()
    assert 'aria-label="Correct ' not in olga.get(page).get_data(as_text=True)  # the equipment check has no control

    refused = olga.post(url(recorded, checked.id), data=correction(), headers=htmx(olga, page, "values"))
    assert refused.status_code == 422
    assert "came from the equipment; it cannot be typed over" in refused.get_data(as_text=True)

    headers = htmx(olga, f"/batches/{recorded.number}/steps/{PATH}", "values")
    assert olga.post(url(recorded), data=correction(), headers=headers).status_code == 200
    again = olga.post(url(recorded), data=correction("23"), headers=headers)
    assert again.status_code == 409
    assert "already corrected; correct the newest value instead" in again.get_data(as_text=True)

    ex = build(services)
    work(
        services, ex.command_batch, actor="sam", ref=recorded.number, command="abort", reason="test",
        signature=sig("sam", "aborted"),
    )  # fmt: skip
    with services.session_factory() as session:
        newest = session.scalars(select(StepEntry).where(StepEntry.corrects == recorded.entry_id)).one()
    before = stored(services)
    closed = olga.post(url(recorded, newest.id), data=correction("24"), headers=headers)
    assert closed.status_code == 409
    assert "closed to corrections" in closed.get_data(as_text=True)
    assert stored(services) == before
    assert 'aria-label="Correct ' not in olga.get(f"/batches/{recorded.number}/steps/{PATH}").get_data(as_text=True)


@pytest.mark.requirement("URS-SEC-002", "URS-BAT-005")
@pytest.mark.parametrize("user", READ_ONLY)
def test_read_only_roles_see_the_history_but_may_not_correct(
    app: Flask, services: Services, recorded: Recorded, user: str
) -> None:
    olga = client_for(app, "olga")
    page = f"/batches/{recorded.number}/steps/{PATH}"
    olga.post(url(recorded), data=correction(), headers=htmx(olga, page, "values"))
    reader = client_for(app, user)
    before = stored(services)

    html = reader.get(page).get_data(as_text=True)
    assert "<del>21.5 °C</del>" in html
    assert "typo: the display showed 22.5" in html
    assert 'aria-label="Correct ' not in html
    assert "Sign correction" not in html

    with services.session_factory() as session:
        newest = session.scalars(select(StepEntry).where(StepEntry.corrects == recorded.entry_id)).one()
    refused = reader.post(
        url(recorded, newest.id), data=correction(sig_user=user), headers=htmx(reader, page, "values")
    )
    assert refused.status_code == 403
    assert stored(services) == before


@pytest.mark.requirement("URS-BAT-005")
def test_the_correction_and_its_audit_event_commit_together_or_not_at_all(
    app: Flask, services: Services, recorded: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_audit_on(monkeypatch, services, "batch.entry.corrected")
    olga = client_for(app, "olga")
    before = stored(services)

    answer = olga.post(url(recorded), data=correction(), headers=htmx(olga, f"/batches/{recorded.number}", "work"))

    assert answer.status_code == 400
    assert "the audit trail is unavailable" in answer.get_data(as_text=True)
    assert stored(services) == before
    assert not superseded(services, recorded.entry_id)


def test_a_correction_without_the_csrf_token_is_refused(app: Flask, services: Services, recorded: Recorded) -> None:
    olga = client_for(app, "olga")
    before = stored(services)
    answer = olga.post(url(recorded), data=correction(), headers={"HX-Request": "true", "HX-Target": "work"})
    assert answer.status_code == 400
    assert stored(services) == before
