"""Materials and lots: the checks before a weighing, signed status changes, genealogy and its CLI."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from ebr.cli import main
from ebr.core.errors import NotFound, ValidationError
from ebr.execution.models import StepEntry
from ebr.materials.models import LotStatusChange
from signatures.errors import NotPermitted
from tests.integration.execution.conftest import Floor, make_lot, recipe, sig

WEIGH: dict[str, Any] = {
    "name": "WEIGH",
    "title": "One weighing",
    "product": {"code": "FG-W", "name": "Weighed"},
    "batch_size": {"nominal": 10, "min": 5, "max": 20, "unit": "kg"},
    "bill_of_materials": {"materials": [{"code": "RM-X", "name": "X", "quantity": "10", "unit": "kg"}]},
    "unit_procedures": [
        {
            "id": "UP1",
            "name": "Dispense",
            "equipment": {"unit_class": "scale", "unit": "SC-01"},
            "operations": [
                {
                    "id": "OP1",
                    "name": "Weigh",
                    "phases": [
                        {
                            "id": "PH1",
                            "name": "Weigh X",
                            "type": "weigh_dispense",
                            "material": "RM-X",
                            "target": "10",
                            "unit": "kg",
                            "tolerance": "1",
                            "tolerance_unit": "%",
                            "potency_adjusted": True,
                            "scale": "SC-01",
                            "signatures": ["performed", "verified"],
                        },
                    ],
                }
            ],
        }
    ],
}


def _weigh_step(floor: Floor) -> str:
    number = floor.batch(recipe(WEIGH))
    floor.work(floor.execution.start_step, actor="olga", ref=number, path="UP1.OP1.PH1")
    return number


def _scan(floor: Floor, number: str, barcode: str) -> Any:
    return floor.work(
        floor.execution.record, actor="olga", ref=number, path="UP1.OP1.PH1", values={"container": barcode}
    )


def _entries(floor: Floor) -> list[StepEntry]:
    with floor.services.session_factory() as session:
        return list(session.scalars(select(StepEntry)))


@pytest.mark.requirement("URS-BAT-004")
@pytest.mark.parametrize(
    ("lot", "kwargs", "message"),
    [
        ("L-Y", {"material": "RM-Y"}, "wrong material: container C-L-Y holds RM-Y"),
        ("L-Q", {"release": False}, "lot L-Q is quarantine, not released"),
        ("L-E", {"expires": dt.date(2020, 1, 1)}, "lot L-E expired on 2020-01-01"),
        ("L-S", {"quantity": "9"}, "holds 9 kg, less than the"),
    ],
)
def test_a_wrong_unreleased_expired_or_short_container_is_refused_and_nothing_is_recorded(
    floor: Floor, lot: str, kwargs: dict[str, Any], message: str
) -> None:
    kwargs = dict(kwargs)  # the parameter dict is shared by both backends' runs
    material = kwargs.pop("material", "RM-X")
    make_lot(floor, material, lot, kwargs.pop("quantity", "50"), **kwargs)
    number = _weigh_step(floor)
    with pytest.raises(ValidationError, match=message):
        _scan(floor, number, f"C-{lot}")
    assert _entries(floor) == []


def test_an_unknown_container_is_reported_as_not_found(floor: Floor) -> None:
    number = _weigh_step(floor)
    with pytest.raises(NotFound, match="container 'NOPE' is unknown"):
        _scan(floor, number, "NOPE")


@pytest.mark.requirement("URS-BAT-004")
def test_scanning_a_good_container_records_the_lot_and_the_potency_adjusted_target(floor: Floor) -> None:
    make_lot(floor, "RM-X", "L-X", "50", potency="98.0")
    number = _weigh_step(floor)
    outcome = _scan(floor, number, "C-L-X")
    assert {e.name: e.value for e in outcome.entries} == {"container": "C-L-X", "lot": "L-X", "target": "10.204"}


@pytest.mark.requirement("URS-SIG-004")
def test_a_lot_is_released_only_by_qa_with_a_signature_and_a_reason(floor: Floor) -> None:
    make_lot(floor, "RM-X", "L-1", "5", release=False)
    mats = floor.execution.materials
    with pytest.raises(NotPermitted):
        floor.work(
            mats.change_status, actor="olga", lot_number="L-1", status="released", reason="ok", signer=sig("olga")
        )
    with pytest.raises(ValidationError, match="needs a reason"):
        floor.work(
            mats.change_status, actor="quinn", lot_number="L-1", status="released", reason=" ", signer=sig("quinn")
        )
    floor.work(
        mats.change_status, actor="quinn", lot_number="L-1", status="released", reason="CoA OK", signer=sig("quinn")
    )
    with floor.services.session_factory() as session:
        change = session.scalars(select(LotStatusChange)).one()
        assert (change.from_status, change.to_status, change.reason) == ("quarantine", "released", "CoA OK")
        assert change.signature_id is not None


@pytest.mark.requirement("URS-BAT-004")
def test_genealogy_is_traced_backward_and_forward_through_the_cli(floor: Floor) -> None:
    make_lot(floor, "RM-X", "L-RAW", "50")
    mats = floor.execution.materials
    floor.work(mats.consume, actor="olga", batch_id="batch-1", step_path="UP1.OP1.PH1", barcode="C-L-RAW",
               quantity=Decimal("10.000"))  # fmt: skip
    floor.work(mats.record_output, actor="olga", batch_id="batch-1", number="LOT-OUT", product="FG-W",
               quantity=Decimal("10"), unit="kg")  # fmt: skip
    env = {
        "EBR_DATABASE_URL": floor.services.settings.database_url,
        "EBR_DATA_DIR": str(floor.services.settings.data_dir),
    }
    back = CliRunner().invoke(main, ["trace", "lot", "LOT-OUT"], env=env)
    assert back.exit_code == 0, back.output
    assert "L-RAW (RM-X, released) 10.000 kg via batch-1" in back.output
    ahead = CliRunner().invoke(main, ["trace", "lot", "L-RAW", "--json"], env=env)
    assert '"lot": "LOT-OUT"' in ahead.output
    with floor.services.session_factory() as session:
        assert mats.lot(session, "L-RAW").quantity == Decimal("40.000")
