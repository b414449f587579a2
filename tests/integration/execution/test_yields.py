"""Yield and material reconciliation of a batch: computed at completion, deviations, review, release, API."""

from __future__ import annotations

import html
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from audit.models import AuditEvent
from ebr.cli import main
from ebr.core.db import unit_of_work
from ebr.core.errors import NotFound, StateError, ValidationError
from ebr.execution import review as review_items
from ebr.execution import yields
from ebr.execution.models import Deviation, MaterialReturn
from ebr.review import services as release
from recipes.model import Recipe
from tests.integration.execution.api_support import Api
from tests.integration.execution.conftest import PASSWORD, Floor, make_lot, recipe, sig
from tests.integration.web.test_verification_queue import client_for

MADE = "UP1.OP1.PH1"
YIELDED: dict[str, Any] = {
    "name": "YIELDED",
    "title": "A batch whose yield is checked",
    "product": {"code": "FG-Y", "name": "Yielded product"},
    "batch_size": {"nominal": 100, "min": 50, "max": 150, "unit": "kg"},
    "bill_of_materials": {"materials": [
        {"code": "RM-X", "name": "X", "quantity": "10", "unit": "kg", "reconciliation": "0.5"},
    ]},
    "yield": {"theoretical": "100", "unit": "kg", "actual": MADE, "low": "95", "high": "102"},
    "unit_procedures": [
        {"id": "UP1", "name": "Make", "equipment": {"unit_class": "reactor", "unit": "R-101"}, "operations": [
            {"id": "OP1", "name": "Discharge", "phases": [
                {"id": "PH1", "name": "Quantity made", "type": "data_entry", "kind": "numeric",
                 "prompt": "Net weight discharged", "unit": "kg", "low": "0", "high": "200"},
            ]},
        ]},
    ],
}  # fmt: skip


def make(floor: Floor, made: str, *, size: str = "100", order: str = "PO-Y", take: str | None = None) -> str:
    """A YIELDED batch that made ``made`` kg; with ``take``, it took that much from container C-L-X first."""
    number = floor.batch(recipe(YIELDED), size=size, order=order)
    if take is not None:
        batch_id = floor.work(lambda session: floor.execution.batch(session, number).id)
        floor.work(
            floor.execution.materials.consume,
            actor="olga",
            batch_id=batch_id,
            step_path=MADE,
            barcode="C-L-X",
            quantity=Decimal(take),
        )
    floor.work(floor.execution.start_step, actor="olga", ref=number, path=MADE)
    floor.work(
        floor.execution.complete_step, actor="olga", ref=number, path=MADE, values={"value": made},
        signatures=[sig("olga")],
    )  # fmt: skip
    return number


def exceptions(floor: Floor, number: str) -> list[review_items.ReviewItem]:
    with floor.services.session_factory() as session:
        return review_items.exceptions(session, floor.execution.batch(session, number))


def deviations_of(floor: Floor, number: str) -> list[Deviation]:
    with floor.services.session_factory() as session:
        batch = floor.execution.batch(session, number)
        return list(session.scalars(select(Deviation).where(Deviation.batch_id == batch.id)))


def report(floor: Floor, number: str) -> tuple[list[yields.YieldResult], list[yields.MaterialBalance]]:
    with floor.services.session_factory() as session:
        batch = floor.execution.batch(session, number)
        recipe_ = Recipe.from_dict(batch.control_recipe)
        return yields.batch_yields(session, batch, recipe_), yields.reconciliation(session, batch, recipe_)


def decide(floor: Floor, number: str, user: str, decision: str) -> Any:
    with unit_of_work(floor.services.session_factory) as session:
        return release.decide(
            session, floor.execution.ctx, actor=user, ref=number, decision=decision, signature=sig(user, decision)
        )


@pytest.mark.requirement("URS-BAT-021")
def test_a_yield_within_its_limits_opens_nothing_and_is_computed_exactly(floor: Floor) -> None:
    number = make(floor, "102.000", size="100")
    [result], _ = report(floor, number)
    assert (result.scope, result.actual, result.theoretical, result.within) == (
        "batch", Decimal("102.000"), Decimal("100"), True,
    )  # fmt: skip
    assert deviations_of(floor, number) == []
    assert not [i for i in exceptions(floor, number) if i.kind == "yield outside its limits"]


@pytest.mark.requirement("URS-BAT-021", "URS-QA-010", "URS-QA-001")
def test_a_yield_outside_its_limits_opens_a_deviation_and_an_exception_that_qa_dispositions_before_release(
    floor: Floor,
) -> None:
    number = make(floor, "47", size="50")  # theoretical scales to 50 kg: 94 %, below 95 %
    [dev] = deviations_of(floor, number)
    assert (dev.kind, dev.severity, dev.step_path) == ("yield", "major", MADE)
    assert "47 of 50.000 kg = 94.00 % (limits 95–102 %)" in dev.description
    items = {i.key: i for i in exceptions(floor, number)}
    assert items["yield:batch"].kind == "yield outside its limits"
    assert items[f"deviation:{dev.number}"].kind == "yield deviation"
    decide(floor, number, "quinn", "reviewed")
    with pytest.raises(ValidationError) as refused:
        decide(floor, number, "queenie", "released")
    assert any("yield outside its limits" in p and "no QA disposition" in p for p in refused.value.problems)
    assert any(dev.number in p for p in refused.value.problems)
    with unit_of_work(floor.services.session_factory) as session:
        floor.execution.handle_deviation(
            session, actor="sam", ref=dev.number, comment="scale of the discharge checked; loss in the filter",
            signature=sig("sam", "verified"),
        )  # fmt: skip
    with unit_of_work(floor.services.session_factory) as session:
        floor.execution.handle_deviation(
            session, actor="queenie", ref=dev.number, comment="investigation INV-7 closed",
            signature=sig("queenie", "reviewed"),
        )  # fmt: skip
    for item in exceptions(floor, number):
        with unit_of_work(floor.services.session_factory) as session:
            release.disposition(
                session, floor.execution.ctx, actor="quinn", ref=number, key=item.key, comment="INV-7: accepted"
            )
    assert decide(floor, number, "queenie", "released").status == "released"


@pytest.mark.requirement("URS-BAT-021", "URS-QA-010")
def test_a_return_outside_the_reconciliation_limit_opens_a_deviation_once(floor: Floor) -> None:
    make_lot(floor, "RM-X", "L-X", "25.000")
    number = make(floor, "100", take="10.000")
    [material] = report(floor, number)[1]
    # Without a recorded return the book remainder closes the balance.
    assert material.total == yields.rules.Balance(Decimal("25.000"), Decimal("10.000"), Decimal("15.000"), Decimal(0))
    _row, opened = floor.work(
        yields.record_return, ctx=floor.execution.ctx, actor="olga", ref=number, container="C-L-X",
        returned=Decimal("14.850"), waste=Decimal("0.020"),
    )  # fmt: skip
    [material] = report(floor, number)[1]
    assert material.total.difference == Decimal("0.130")  # 25 − 10 − 14.85 − 0.02; 0.5 % of 25 is 0.125
    assert material.within is False
    [dev] = opened
    assert (dev.kind, dev.severity) == ("reconciliation", "major")
    assert "reconciliation of RM-X: issued 25.000 − consumed 10.000 − returned 14.850 − waste 0.020" in dev.description
    assert "reconciliation outside its limits" in {i.kind for i in exceptions(floor, number)}
    with pytest.raises(StateError, match="already recorded"):
        floor.work(
            yields.record_return, ctx=floor.execution.ctx, actor="olga", ref=number, container="C-L-X",
            returned=Decimal("14.875"), waste=Decimal(0),
        )  # fmt: skip
    with floor.services.session_factory() as session:
        events = session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "batch.material.returned")
        )
    assert events == 1


def test_a_return_for_a_container_the_batch_did_not_use_or_below_zero_is_refused_and_nothing_is_stored(
    floor: Floor,
) -> None:
    make_lot(floor, "RM-X", "L-X", "25.000")
    make_lot(floor, "RM-X", "L-Z", "5.000")
    number = make(floor, "100", take="10.000")
    ctx = floor.execution.ctx
    with pytest.raises(NotFound, match="took nothing from container 'C-L-Z'"):
        floor.work(yields.record_return, ctx=ctx, actor="olga", ref=number, container="C-L-Z",
                   returned=Decimal(5), waste=Decimal(0))  # fmt: skip
    with pytest.raises(ValidationError, match="waste must be a quantity of zero or more in kg, got -1"):
        floor.work(yields.record_return, ctx=ctx, actor="olga", ref=number, container="C-L-X",
                   returned=Decimal(15), waste=Decimal(-1))  # fmt: skip
    with floor.services.session_factory() as session:
        assert session.scalars(select(MaterialReturn)).all() == []


@pytest.mark.requirement("URS-BAT-021")
def test_the_api_reports_yields_and_takes_returns_with_the_operators_permission(app: Flask, floor: Floor) -> None:
    make_lot(floor, "RM-X", "L-X", "25.000")
    number = make(floor, "96.5", take="10.000")
    olga, quinn = Api(app.test_client(), "olga"), Api(app.test_client(), "quinn")
    body = quinn.call("GET", f"/api/batches/{number}/yield")
    assert body["yields"] == [{
        "scope": "batch", "step": MADE, "unit": "kg", "theoretical": "100.000", "actual": "96.5", "percent": "96.50",
        "low": "95", "high": "102", "within": True,
    }]  # fmt: skip
    refused = quinn.call("POST", f"/api/batches/{number}/returns", {"container": "C-L-X", "returned": "15"}, 403)
    assert refused["error"]
    answer = olga.call("POST", f"/api/batches/{number}/returns", {"container": "C-L-X", "returned": "15.000"})
    assert answer["reconciliation"][0]["total"]["difference"] == "0.000"
    assert answer["reconciliation"][0]["containers"][0]["recorded"] is True
    assert answer["deviations"] == []
    bad = olga.call("POST", f"/api/batches/{number}/returns", {"container": "C-L-X", "returned": "x"}, 422)
    assert "returned" in str(bad)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.dictionaries(
        st.sampled_from(["container", "returned", "waste", "other"]),
        st.one_of(st.text(max_size=20), st.integers(), st.floats(), st.none()),
        max_size=4,
    )
)
def test_any_body_sent_to_returns_gets_a_clear_json_answer_and_never_a_traceback(
    app: Flask, floor: Floor, body: dict[str, Any]
) -> None:
    olga = Api(app.test_client(), "olga")
    response = olga.client.post("/api/batches/NOPE/returns", json=body)
    assert response.status_code in (404, 422), response.json
    assert response.json["message"]
    with floor.services.session_factory() as session:
        assert session.scalars(select(MaterialReturn)).all() == []


@pytest.mark.requirement("URS-QA-010")
def test_the_review_page_shows_each_yield_and_the_reconciliation_with_its_verdict(app: Flask, floor: Floor) -> None:
    make_lot(floor, "RM-X", "L-X", "25.000")
    number = make(floor, "47", size="50", take="10.000")
    page = html.unescape(client_for(app, "quinn").get(f"/review/batches/{number}").get_data(as_text=True))
    assert "Yield and material reconciliation" in page
    assert "47 kg" in page
    assert "94.00 %" in page
    assert "outside its limits" in page
    assert "RM-X" in page
    assert "returns from the book" in page


@pytest.mark.requirement("URS-BAT-021")
def test_a_later_batch_taking_from_the_returned_container_does_not_change_the_earlier_reconciliation(
    floor: Floor,
) -> None:
    make_lot(floor, "RM-X", "L-X", "25.000")
    first = make(floor, "100", order="PO-Y1", take="10.000")
    floor.work(
        yields.record_return, ctx=floor.execution.ctx, actor="olga", ref=first, container="C-L-X",
        returned=Decimal("15.000"), waste=Decimal(0),
    )  # fmt: skip
    second = make(floor, "100", order="PO-Y2", take="5.000")
    [earlier] = report(floor, first)[1]
    assert earlier.total == yields.rules.Balance(Decimal("25.000"), Decimal("10.000"), Decimal("15.000"), Decimal(0))
    [later] = report(floor, second)[1]
    assert later.total == yields.rules.Balance(Decimal("15.000"), Decimal("5.000"), Decimal("10.000"), Decimal(0))


def test_the_output_lot_takes_the_actual_yield_measured_in_the_batch_size_unit(floor: Floor) -> None:
    number = make(floor, "96.500")
    with floor.services.session_factory() as session:
        lot = floor.execution.materials.lot(session, number)
    assert (lot.quantity, lot.unit) == (Decimal("96.500"), "kg")


@pytest.mark.requirement("URS-BAT-021")
def test_the_operator_records_a_return_on_the_yield_page_in_the_plants_locale(app: Flask, floor: Floor) -> None:
    floor.services.settings = replace(floor.services.settings, plant_locale="de_DE")
    make_lot(floor, "RM-X", "L-X", "25.000")
    number = make(floor, "100", take="10.000")
    app.config["WTF_CSRF_ENABLED"] = False  # CSRF is proven in tests/integration/signatures
    olga = client_for(app, "olga")
    page = html.unescape(olga.get(f"/batches/{number}/yield").get_data(as_text=True))
    assert "Return of container C-L-X (RM-X)" in page
    assert "15,000 kg should come back" in page
    sent = olga.post(f"/batches/{number}/returns", data={"container": "C-L-X", "returned": "14,850", "waste": "0,020"})
    assert sent.status_code == 302
    page = html.unescape(olga.get(f"/batches/{number}/yield").get_data(as_text=True))
    assert "reconciliation OUTSIDE its limit" in page
    assert "Return of container C-L-X" not in page, "recorded once"
    [material] = report(floor, number)[1]
    assert (material.total.returned, material.total.waste) == (Decimal("14.850"), Decimal("0.020"))
    quinn = client_for(app, "quinn")
    assert quinn.post(f"/batches/{number}/returns", data={"container": "C-L-X", "returned": "1"}).status_code == 403


@pytest.mark.requirement("URS-BAT-021")
def test_the_cli_shows_yields_and_records_a_return_for_a_user_with_the_right(floor: Floor) -> None:
    make_lot(floor, "RM-X", "L-X", "25.000")
    number = make(floor, "47", size="50", take="10.000")
    env = {
        "EBR_DATABASE_URL": floor.services.settings.database_url,
        "EBR_DATA_DIR": str(floor.services.settings.data_dir),
    }
    shown = CliRunner().invoke(main, ["yield", "show", number], env=env)
    assert shown.exit_code == 0, shown.output
    assert "yield of the batch: 47 of 50.000 kg = 94.00 % (limits 95–102 %): OUTSIDE ITS LIMITS" in shown.output
    args = ["yield", "return", number, "--container", "C-L-X", "--returned", "15", "--password-stdin"]
    refused = CliRunner().invoke(main, [*args, "--user", "quinn"], env=env, input=f"{PASSWORD}\n")
    assert refused.exit_code == 2, refused.output
    assert "error:" in refused.output
    bad = CliRunner().invoke(main, [*args[:-2], "abc", "--user", "olga", "--password-stdin"], env=env, input="x\n")
    assert bad.exit_code == 2, bad.output
    assert "error: --returned: 'abc' is not a number" in bad.output
    done = CliRunner().invoke(main, [*args, "--user", "olga"], env=env, input=f"{PASSWORD}\n")
    assert done.exit_code == 0, done.output
    assert "return of container C-L-X recorded" in done.output
    as_json = CliRunner().invoke(main, ["yield", "show", number, "--json"], env=env)
    assert '"difference": "0.000"' in as_json.output
