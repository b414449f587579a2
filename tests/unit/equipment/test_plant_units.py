"""Any plant's tags: scaling, declared units converted through ebr.core.units, shared nodes, safe states.

The validator refuses what cannot work with one line per problem that names the key and
the fix; what can work is converted exactly (flow in L/s, L/min or m³/h; level in %).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ebr.core import units
from equipment.config import parse_plant_config
from equipment.drivers.opcua import to_tag_value
from equipment.errors import PlantConfigError
from tests.support.vendor import vendor_plant_config

URL = "opc.tcp://127.0.0.1:4840/vendor"


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(PlantConfigError) as caught:
        parse_plant_config(data)
    return caught.value.problems


def vendor(**dosing: Any) -> dict[str, Any]:
    return vendor_plant_config(URL, **dosing)


@pytest.mark.requirement("URS-EQP-013")
@pytest.mark.parametrize(
    ("unit", "factor"), [("L/s", Decimal(1)), ("L/min", Decimal(1) / 60), ("m³/h", Decimal(1000) / 3600)]
)
def test_the_flow_unit_declared_on_the_tag_is_the_one_the_dosing_uses(unit: str, factor: Decimal) -> None:
    data = vendor()
    data["equipment"]["R-101"]["tags"]["flow"]["unit"] = unit
    cfg = parse_plant_config(data).dosing["R-101"]
    assert cfg.flow_factor == pytest.approx(float(factor), rel=1e-12)
    assert cfg.quantity_unit == "L"


@pytest.mark.requirement("URS-EQP-013")
def test_a_level_in_percent_is_mapped_onto_litres_by_its_raw_range() -> None:
    config = parse_plant_config(vendor())
    spec = config.tags["R-101.level"]
    assert (spec.scale, spec.offset) == (20.0, 0.0)
    from asyncua import ua

    item = to_tag_value("R-101.level", ua.DataValue(ua.Variant(45.5, ua.VariantType.Double)), spec)
    assert item.value == pytest.approx(910.0)


@pytest.mark.requirement("URS-EQP-013")
def test_what_cannot_work_is_refused_naming_the_key_and_the_fix() -> None:
    data = vendor()
    tags = data["equipment"]["R-101"]["tags"]
    tags["flow"]["unit"] = "kg/h"  # not a flow of litres
    tags["level"]["raw_range"] = [0, 100]
    tags["level"]["scale"] = 2  # both ways of scaling at once
    tags["totalizer"]["unit"] = "furlong"
    tags["inlet_valve"]["safe_state"] = "manual"  # dosing commands it
    tags["pump_running"]["safe_state"] = False  # not writable
    tags["pump"]["type"] = "int"  # the pump shares no node here; wrong safe state type
    tags["pump"]["safe_state"] = True
    found = problems(data)
    text = "\n".join(found)
    assert "equipment.R-101.tags.level.raw_range: give either raw_range (with range) or scale/offset" in text
    assert "equipment.R-101.tags.totalizer.unit: unit 'furlong' is not a process unit" in text
    assert "dosing.R-101.inlet_valve: tag 'R-101.inlet_valve' is commanded by dosing and cannot be safe_state" in text
    assert "equipment.R-101.tags.pump_running.safe_state: only a writable output has a safe state" in text
    assert "equipment.R-101.tags.pump.safe_state: True is not a number" in text


@pytest.mark.requirement("URS-EQP-013")
def test_a_flow_in_the_wrong_dimension_and_tags_disagreeing_on_a_shared_node_are_refused() -> None:
    data = vendor_plant_config(URL, shared_command=True)
    tags = data["equipment"]["R-101"]["tags"]
    tags["flow"]["unit"] = "kg/h"
    tags["pump"]["safe_state"] = True
    text = "\n".join(problems(data))
    assert "dosing.R-101.flow: tag R-101.flow has unit kg/h, not a flow of L; declare unit: L/s" in text
    assert "share node ns=1;s=Transfer.Command but declare different safe states" in text


def test_two_tags_on_one_node_are_accepted_when_they_agree() -> None:
    config = parse_plant_config(vendor_plant_config(URL, shared_command=True))
    assert config.tags["R-101.pump"].node == config.tags["R-101.inlet_valve"].node


@pytest.mark.requirement("URS-EQP-013")
@settings(max_examples=60, deadline=None)
@given(
    key=st.sampled_from(["unit", "scale", "offset", "raw_range", "range", "safe_state", "feedback", "type"]),
    value=st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-5, 5),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=12),
        st.lists(st.one_of(st.integers(-3, 3), st.text(max_size=3)), max_size=3),
    ),
)
def test_any_value_of_a_tag_key_is_loaded_or_refused_with_its_path(key: str, value: Any) -> None:
    data = vendor()
    data["equipment"]["R-101"]["tags"]["flow"][key] = value
    try:
        config = parse_plant_config(data)
    except PlantConfigError as exc:
        refused = exc.problems
    else:
        refused = []
    if refused:
        assert all(p.split(":", 1)[0].startswith(("equipment.", "dosing.")) for p in refused), refused
        return
    spec = config.tags["R-101.flow"]
    assert math.isfinite(spec.scale)
    assert spec.scale != 0
    assert math.isfinite(spec.offset)
    assert config.dosing["R-101"].flow_factor > 0


@settings(max_examples=60, deadline=None)
@given(raw=st.floats(-1e6, 1e6), low=st.floats(-1e3, 1e3), span=st.floats(1e-3, 1e4))
def test_writing_a_scaled_value_sends_back_the_raw_value_it_was_read_from(raw: float, low: float, span: float) -> None:
    data = vendor()
    data["equipment"]["R-101"]["tags"]["flow"] |= {"raw_range": [0, 100], "range": [low, low + span]}
    spec = parse_plant_config(data).tags["R-101.flow"]
    engineering = raw * spec.scale + spec.offset
    assert (engineering - spec.offset) / spec.scale == pytest.approx(raw, rel=1e-9, abs=1e-6)


def test_unit_conversion_stays_exact() -> None:
    assert units.convert(Decimal("1.5"), "m³/h", "L/min") == Decimal(25)
