"""A dispensing batch against the plant simulator whose yield falls outside its limits, through to release.

Every weight comes from the simulator's Modbus scale; the recipe's yield limit is
tightened so that the (within tolerance) weights add up to more than it allows.
"""

from __future__ import annotations

import pytest
from flask import Flask

from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.execution import review as review_items
from ebr.execution.service import build
from ebr.review import services as release
from tests.e2e.batch_support import Runner, ShiftedClock
from tests.e2e.test_batch_examples import (  # noqa: F401 - the e2e fixtures
    _people,
    clock,
    runtime,
    shop,
    simulator,
    web,
)
from tests.integration.execution.api_support import approve_recipe
from tests.integration.execution.conftest import EXAMPLES, Floor, make_lot, sig
from tests.support.plant import SimulatorHandle

DECLARED = "yield: {theoretical: 60.000, unit: kg, actual: UP1.OP4.PH1, low: 99.0, high: 101.0}"
TIGHT = "yield: {theoretical: 60.000, unit: kg, actual: UP1.OP4.PH1, low: 99.0, high: 100.1}"


@pytest.mark.slow
@pytest.mark.requirement("URS-BAT-021", "URS-QA-010", "URS-QA-001")
def test_a_yield_outside_its_limits_is_a_deviation_and_an_exception_qa_dispositions_before_releasing(
    web: Flask,  # noqa: F811 - the e2e fixture
    shop: Services,  # noqa: F811
    simulator: SimulatorHandle,  # noqa: F811
    clock: ShiftedClock,  # noqa: F811
) -> None:
    floor = Floor(shop, build(shop))
    for code in ("RM-MET", "RM-MCC", "RM-PVP", "RM-CCS", "RM-SIO2", "RM-MGST"):
        make_lot(floor, code, f"L-{code}", "100", potency="99.5" if code == "RM-MET" else None)
    text = (EXAMPLES / "metformin-dispensing-campaign.yaml").read_text(encoding="utf-8")
    assert DECLARED in text
    label = approve_recipe(shop, text.replace(DECLARED, TIGHT), "metformin-tight-yield.yaml")
    olga, sam = _people(web)
    number = str(sam.call("POST", "/api/batches", {"recipe": label, "size": "60", "order": "PO-YIELD"})["number"])
    sam.call("POST", f"/api/batches/{number}/release", {})
    olga.call("POST", f"/api/batches/{number}/start", {})
    values = {
        "UP1.OP1.PH2": {"value": "38"},
        "UP1.OP4.PH2": {"value": "pass"},
        **{p: {"container": f"C-L-{c}"} for p, c in (
            ("UP1.OP2.PH1", "RM-MET"), ("UP1.OP3.PH1", "RM-MCC"), ("UP1.OP3.PH2", "RM-PVP"),
            ("UP1.OP3.PH3", "RM-CCS"), ("UP1.OP3.PH4", "RM-SIO2"), ("UP1.OP3.PH5", "RM-MGST"),
        )},
    }  # fmt: skip
    batch = Runner(olga, sam, simulator, clock, values).run(number)
    assert batch["status"] == "complete"

    report = olga.call("GET", f"/api/batches/{number}/yield")
    [result] = report["yields"]
    # 30 kg of API at 99.5 % potency weighs 30.151 kg: 60.151 kg dispensed, 100.25 % of theoretical.
    assert (result["actual"], result["theoretical"], result["percent"], result["within"]) == (
        "60.151", "60.000", "100.25", False,
    )  # fmt: skip
    assert {m["material"] for m in report["reconciliation"]} == {
        "RM-MET", "RM-MCC", "RM-PVP", "RM-CCS", "RM-SIO2", "RM-MGST",
    }  # fmt: skip
    assert all(m["total"]["difference"] == "0.000" for m in report["reconciliation"])
    [dev] = olga.call("GET", f"/api/batches/{number}/deviations")
    assert (dev["kind"], dev["severity"], dev["step"]) == ("yield", "major", "UP1.OP4.PH1")
    with shop.session_factory() as session:
        items = review_items.exceptions(session, build(shop).batch(session, number))
    assert "yield outside its limits" in {i.kind for i in items}

    def work(fn: object, **kwargs: object) -> object:
        with unit_of_work(shop.session_factory) as session:
            return fn(session, **kwargs)  # type: ignore[operator]

    ctx = build(shop).ctx
    work(build(shop).handle_deviation, actor="sue", ref=dev["number"], comment="potency excess of the API lot",
         signature=sig("sue", "verified"))  # fmt: skip
    work(build(shop).handle_deviation, actor="queenie", ref=dev["number"], comment="INV-12: expected, accepted",
         signature=sig("queenie", "reviewed"))  # fmt: skip
    work(release.decide, ctx=ctx, actor="quinn", ref=number, decision="reviewed", signature=sig("quinn", "reviewed"))
    for item in items:
        work(release.disposition, ctx=ctx, actor="quinn", ref=number, key=item.key, comment=f"{item.kind}: INV-12")
    released = work(
        release.decide, ctx=ctx, actor="queenie", ref=number, decision="released", signature=sig("queenie", "released")
    )
    assert released.status == "released"  # type: ignore[attr-defined]
