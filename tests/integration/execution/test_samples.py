"""In-process samples: true sources, ``wait_for_result`` holding the next step, QC results against the spec."""

from __future__ import annotations

import copy
import html
from decimal import Decimal, InvalidOperation
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from audit.models import AuditEvent
from ebr.core.errors import NotFound, StateError, ValidationError
from ebr.execution import review as review_items
from ebr.execution.models import Deviation, SampleResult
from tests.integration.execution.api_support import Api
from tests.integration.execution.conftest import Floor, recipe, sig
from tests.integration.web.test_verification_queue import client_for
from tests.support.auth import csrf_token

PH = "UP1.OP1.PH1"
SAMPLED: dict[str, Any] = {
    "name": "SAMPLED",
    "title": "A sample that waits for QC",
    "product": {"code": "FG-S", "name": "Sampled product"},
    "batch_size": {"nominal": 100, "min": 50, "max": 150, "unit": "L"},
    "unit_procedures": [
        {
            "id": "UP1",
            "name": "Mix",
            "equipment": {"unit_class": "reactor", "unit": "R-101"},
            "operations": [
                {"id": "OP1", "name": "In-process control", "phases": [
                    {"id": "PH1", "name": "In-process sample", "type": "sample", "tests": ["pH", "assay"],
                     "quantity": 100, "unit": "mL", "wait_for_result": True},
                    {"id": "PH2", "name": "pH", "type": "data_entry", "kind": "numeric",
                     "prompt": "pH from the laboratory", "unit": "pH", "low": "3.5", "high": "7.0"},
                ]},
            ],
        }
    ],
}  # fmt: skip


def sampled(floor: Floor, sample_id: str, order: str = "PO-S") -> str:
    ex = floor.execution
    number = floor.batch(recipe(SAMPLED), order=order)
    floor.work(ex.start_step, actor="olga", ref=number, path=PH)
    floor.work(ex.record, actor="olga", ref=number, path=PH, values={"sample_id": sample_id})
    return number


def result(floor: Floor, ref: str, test: str, value: str, user: str = "quinn") -> SampleResult:
    row: SampleResult = floor.work(floor.execution.enter_sample_result, actor=user, ref=ref, test=test, value=value)
    return row


def complete(floor: Floor, number: str) -> Any:
    return floor.work(floor.execution.complete_step, actor="olga", ref=number, path=PH, signatures=[sig("olga")])


@pytest.mark.requirement("URS-BAT-010")
def test_the_sample_id_is_scanned_and_label_and_quantity_come_from_the_system(floor: Floor) -> None:
    number = sampled(floor, "S-77")
    entries = {e.name: e for e in _entries(floor, number)}
    assert {name: e.source for name, e in entries.items()} == {
        "sample_id": "scan",
        "label": "system",
        "quantity": "system",
    }
    assert entries["quantity"].unit == "mL"


def _entries(floor: Floor, number: str) -> list[Any]:
    from ebr.execution.engine import current_entries

    with floor.services.session_factory() as session:
        step = floor.execution.ctx.step(session, floor.execution.batch(session, number), PH)
        return list(current_entries(session, step).values())


@pytest.mark.requirement("URS-BAT-010")
def test_the_next_step_waits_until_qc_has_entered_every_result(floor: Floor) -> None:
    number = sampled(floor, "S-77")
    with pytest.raises(StateError, match="waits for QC's result of pH, assay"):
        complete(floor, number)
    ph = result(floor, "S-77", "ph", "5.2")
    assert (ph.test, ph.value, ph.unit, ph.in_spec) == ("pH", "5.2", "pH", True)
    assert (ph.low, ph.high) == (Decimal("3.5"), Decimal("7.0"))
    with pytest.raises(StateError, match="waits for QC's result of assay"):
        complete(floor, number)
    with pytest.raises(StateError, match="entered by quinn already"):
        result(floor, "S-77", "pH", "5.3")
    with pytest.raises(ValidationError, match="its tests are: pH, assay"):
        result(floor, "S-77", "density", "1.02")
    assay = result(floor, "S-77", "assay", "99.1")
    assert assay.in_spec is None  # the recipe has no step named "assay": no specification
    assert not floor.step(number, "UP1.OP1.PH2").ready
    assert complete(floor, number).completed
    assert floor.step(number, "UP1.OP1.PH2").ready
    with pytest.raises(NotFound, match="no sample 'S-77' waits for a result"):
        result(floor, "S-77", "assay", "99")
    kinds = {item.kind for item in _items(floor, number)}
    assert "result without specification" in kinds


def _items(floor: Floor, number: str) -> list[review_items.ReviewItem]:
    with floor.services.session_factory() as session:
        return review_items.exceptions(session, floor.execution.batch(session, number))


@pytest.mark.requirement("URS-BAT-010")
def test_an_out_of_specification_result_opens_a_deviation_and_holds_the_step(floor: Floor) -> None:
    ex = floor.execution
    number = sampled(floor, "S-OOS")
    oos = result(floor, "S-OOS", "pH", "8.1")
    assert oos.in_spec is False
    step = floor.step(number, PH)
    assert (step.state, step.data["held_by"]) == ("Held", "sample")
    with floor.services.session_factory() as session:
        dev = session.scalars(select(Deviation).where(Deviation.number == oos.deviation)).one()
        assert (dev.kind, dev.severity, dev.step_path) == ("out_of_spec", "major", PH)
        assert dev.description == "sample S-OOS: pH 8.1 pH is outside its specification 3.5–7.0 pH"
        held = session.scalars(select(AuditEvent).where(AuditEvent.action == "batch.step.held")).one()
        assert held.actor == "quinn"
    result(floor, "S-OOS", "assay", "100.2")  # a held sample still takes its remaining results
    with pytest.raises(StateError):
        complete(floor, number)
    with pytest.raises(StateError, match="cannot restart before deviation"):
        floor.work(ex.command_phase, actor="sam", ref=number, path=PH, command="restart")
    floor.work(
        ex.handle_deviation, actor="sam", ref=oos.deviation, comment="retest planned; continue under deviation",
        signature=sig("sam", "verified"),
    )  # fmt: skip
    floor.work(ex.command_phase, actor="sam", ref=number, path=PH, command="restart")
    assert complete(floor, number).completed
    assert "out of specification" in {item.kind for item in _items(floor, number)}


@pytest.mark.requirement("URS-BAT-010")
def test_qc_enters_results_through_the_api_with_the_same_permission_as_the_page(app: Flask, floor: Floor) -> None:
    number = sampled(floor, "S-API")
    quinn, olga = Api(app.test_client(), "quinn"), Api(app.test_client(), "olga")
    waiting = olga.call("GET", "/api/samples")
    assert waiting == [{"sample_id": "S-API", "batch": number, "step": PH, "missing": ["pH", "assay"]}]
    olga.call("POST", "/api/samples/S-API/results", {"test": "pH", "value": "5.0"}, expect=403)
    refused = quinn.call("POST", "/api/samples/S-API/results", {"test": "pH", "value": "five"}, expect=422)
    assert "is not a number" in refused["message"]
    wrong_unit = {"test": "pH", "value": "5.0", "unit": "mL"}
    assert (
        "enter the result in pH" in quinn.call("POST", "/api/samples/S-API/results", wrong_unit, expect=422)["message"]
    )
    entered = quinn.call("POST", "/api/samples/S-API/results", {"test": "pH", "value": "7.5"}, expect=201)
    assert (entered["in_spec"], entered["low"], entered["high"]) == (False, "3.5", "7.0")
    assert entered["deviation"].startswith("DEV")
    quinn.call("POST", "/api/samples/NOPE/results", {"test": "pH", "value": "5"}, expect=404)


@pytest.mark.requirement("URS-BAT-010")
def test_the_samples_page_lists_waiting_samples_and_takes_a_result(app: Flask, floor: Floor) -> None:
    number = sampled(floor, "S-WEB")
    quinn = client_for(app, "quinn")
    page = html.unescape(quinn.get("/samples/").get_data(as_text=True))
    assert "Sample S-WEB" in page
    assert number in page
    assert "pH of sample S-WEB (pH) — specification: 3.5–7.0 pH" in page
    assert "assay of sample S-WEB — specification: no specification in the recipe" in page
    form = {"csrf_token": csrf_token(quinn, "/samples/"), "test": "pH", "value": "5.1", "unit": "pH"}
    done = html.unescape(quinn.post("/samples/S-WEB/results", data=form, follow_redirects=True).get_data(as_text=True))
    assert "Sample S-WEB: pH = 5.1 pH recorded, within specification." in done
    assert client_for(app, "olga").get("/samples/").status_code == 403
    panel = html.unescape(client_for(app, "olga").get(f"/batches/{number}").get_data(as_text=True))
    assert "Completing this step would be refused now" in panel  # said before the signing dialog opens
    assert "QC's result of assay is not in yet" in panel


@pytest.mark.requirement("URS-BAT-010")
def test_a_result_that_is_not_a_number_stores_nothing(floor: Floor) -> None:
    sampled(floor, "S-FUZZ")

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(value=st.text(max_size=12).filter(lambda t: not _is_number(t)))
    def attempt(value: str) -> None:
        with pytest.raises(ValidationError):
            result(floor, "S-FUZZ", "pH", value)

    attempt()
    with floor.services.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(SampleResult)) == 0


def _is_number(text: str) -> bool:
    try:
        return Decimal(text.strip()).is_finite()
    except InvalidOperation:
        return False


@pytest.mark.requirement("URS-BAT-010")
def test_a_specification_declared_on_the_sample_is_used_and_the_old_rule_covers_the_other_tests(floor: Floor) -> None:
    declared = copy.deepcopy(SAMPLED)
    sample_phase = declared["unit_procedures"][0]["operations"][0]["phases"][0]
    sample_phase["specifications"] = [{"test": "assay", "low": "98.0", "high": "102.0", "unit": "%"}]
    ex = floor.execution
    number = floor.batch(recipe(declared), order="PO-SPEC")
    floor.work(ex.start_step, actor="olga", ref=number, path=PH)
    floor.work(ex.record, actor="olga", ref=number, path=PH, values={"sample_id": "S-SPEC"})
    ph = result(floor, "S-SPEC", "pH", "5.0")  # borrowed from the following "pH" step: 3.5–7.0 pH
    assert (ph.low, ph.high, ph.unit, ph.in_spec) == (Decimal("3.5"), Decimal("7.0"), "pH", True)
    assay = result(floor, "S-SPEC", "assay", "102.5")  # declared on the sample: 98.0–102.0 %
    assert (assay.low, assay.high, assay.unit, assay.in_spec) == (Decimal("98.0"), Decimal("102.0"), "%", False)
    with floor.services.session_factory() as session:
        dev = session.scalars(select(Deviation).where(Deviation.number == assay.deviation)).one()
    assert dev.description == "sample S-SPEC: assay 102.5 % is outside its specification 98.0–102.0 %"
    assert "result without specification" not in {item.kind for item in _items(floor, number)}
