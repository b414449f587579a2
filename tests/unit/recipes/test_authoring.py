"""The YAML authoring format: every problem with its path, all at once, nothing half-read."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from recipes.authoring import RecipeInvalid, parse_document, parse_yaml, to_yaml
from recipes.model import PhaseType, Recipe
from tests.unit.recipes.helpers import LIQUID, SOLID, example, example_document, example_text, small_document


def problems_of(document: dict[str, Any]) -> list[str]:
    with pytest.raises(RecipeInvalid) as caught:
        parse_document(document)
    assert "nothing was imported" in str(caught.value)
    return caught.value.problems


HINT = " (write digits 0-9 with an optional point; no exponent, hex, _ or other digits)"


@pytest.mark.requirement("URS-REC-001")
def test_the_liquid_example_follows_the_isa88_model_with_every_kind_of_step() -> None:
    recipe = example(LIQUID)
    assert [up.equipment.unit for up in recipe.unit_procedures] == ["R-101", "FS-01"]
    types = {phase.type for _, phase in recipe.phases()}
    assert types == set(PhaseType)
    dosing = recipe.phase("UP1.OP2.PH1").params
    assert (dosing.source, dosing.destination) == ("T-100", "R-101")  # type: ignore[union-attr]
    loops = [t for t in recipe.unit_procedures[0].operations[2].transitions if t.targets == ("PH5",)]
    assert loops[-1].condition == 'PH6 == "hazy"'


@pytest.mark.requirement("URS-REC-001")
def test_the_solid_dose_example_weighs_every_material_with_tolerance_and_a_second_signature() -> None:
    recipe = example(SOLID)
    weighings = [p for _, p in recipe.phases() if p.type is PhaseType.WEIGH_DISPENSE]
    assert {w.params.material for w in weighings} == {m.code for m in recipe.bill_of_materials.materials}  # type: ignore[union-attr]
    assert all(w.signatures == ("performed", "verified") for w in weighings)
    assert all(m.tolerance > 0 for m in recipe.bill_of_materials.materials)


def test_numbers_keep_their_digits_and_never_pass_through_a_float() -> None:
    recipe = example(SOLID)
    assert recipe.bill_of_materials.get("RM-MET").quantity.as_tuple().exponent == -3  # type: ignore[union-attr]
    assert recipe.formula.get("blend_weight_low").value == Decimal("59.400")  # type: ignore[union-attr]


@pytest.mark.parametrize("name", [LIQUID, SOLID])
def test_the_yaml_and_json_forms_read_back_to_an_equal_recipe(name: str) -> None:
    recipe = example(name)
    assert parse_yaml(to_yaml(recipe)) == recipe
    assert Recipe.from_dict(json.loads(json.dumps(recipe.to_dict()))) == recipe


@pytest.mark.requirement("URS-REC-002")
def test_a_bad_value_is_reported_with_its_full_path() -> None:
    document = example_document(LIQUID)
    document["unit_procedures"][1]["operations"][0]["phases"][2]["high"] = "one and a half"
    assert problems_of(document) == ["unit_procedures[1].operations[0].phases[2].high: not a decimal or {param: name}"]


@pytest.mark.requirement("URS-REC-002")
def test_every_problem_of_a_document_is_reported_at_once() -> None:
    document = small_document()
    document["batch_size"]["nominal"] = "lots"
    phases = document["unit_procedures"][0]["operations"][0]["phases"]
    phases[1]["tolerance"] = "tight"
    del phases[0]["unit"]
    phases[2]["colour"] = "red"
    document["unit_procedures"][1]["operations"][0]["phases"][0]["type"] = "teleport"
    assert sorted(problems_of(document)) == sorted(
        [
            "batch_size.nominal: not a decimal: 'lots'" + HINT,
            "unit_procedures[0].operations[0].phases[1].tolerance: not a decimal: 'tight'" + HINT,
            "unit_procedures[0].operations[0].phases[0].unit: required",
            "unit_procedures[0].operations[0].phases[2].colour: unknown field (check the spelling)",
            "unit_procedures[1].operations[0].phases[0].type: unknown phase type 'teleport' (known: instruction, "
            "data_entry, weigh_dispense, dosing, timed_hold, equipment_check, sample, calculation, sign_off)",
        ]
    )


@pytest.mark.requirement("URS-REC-002")
def test_malformed_yaml_is_refused_with_its_line() -> None:
    with pytest.raises(RecipeInvalid, match="recipe: line 3, column 1: not valid YAML: "):
        parse_yaml("name: X\ntitle: [unclosed\n")
    with pytest.raises(RecipeInvalid, match="must be a mapping"):
        parse_yaml("- just\n- a list\n")


@pytest.mark.requirement("URS-REC-002")
def test_missing_materials_and_parameters_are_reported() -> None:
    document = small_document()
    phases = document["unit_procedures"][0]["operations"][0]["phases"]
    phases[1]["material"] = "RM-ZZZ"
    phases[0]["target"] = {"param": "nowhere"}
    assert problems_of(document) == [
        "unit_procedures[0].operations[0].phases[0].target: missing parameter or material 'nowhere' in the "
        "formula/bill of materials",
        "unit_procedures[0].operations[0].phases[1].material: missing material 'RM-ZZZ': it is not in the "
        "bill of materials",
    ]


@pytest.mark.requirement("URS-REC-002")
def test_unit_mismatches_are_reported() -> None:
    document = small_document()
    phases = document["unit_procedures"][0]["operations"][0]["phases"]
    phases[0]["unit"] = "kg"  # the parameter is in L
    phases[0]["tolerance_unit"] = "kg"
    phases[1]["unit"] = "mL"  # weighing in a volume
    phases[1]["tolerance_unit"] = "mL"
    found = problems_of(document)
    assert (
        "unit_procedures[0].operations[0].phases[0].target: unit mismatch: charge is in L, the phase uses kg" in found
    )
    assert (
        "unit_procedures[0].operations[0].phases[1].unit: unit mismatch: material RM-A is in kg, the phase uses mL"
        in found
    )
    assert any("phases[1].unit: unit mismatch: mL is not a mass" in p for p in found)


@pytest.mark.requirement("URS-REC-002")
def test_a_cycle_without_a_condition_is_reported_as_an_endless_loop() -> None:
    document = small_document()
    operation = document["unit_procedures"][0]["operations"][0]
    operation["transitions"] = [
        {"from": ["PH1"], "to": ["PH2"]},
        {"from": ["PH2"], "to": ["PH3"]},
        {"from": ["PH3"], "to": ["PH1"]},
    ]
    assert problems_of(document) == [
        "unit_procedures[0].operations[0].transitions: cycle PH1 → PH2 → PH3 → PH1 has no transition with a "
        "condition; it could never be left (add a 'when' to the transition that loops back)"
    ]
    operation["transitions"][2]["when"] = "PH3 > 25"
    parse_document(document)


@pytest.mark.requirement("URS-REC-002")
def test_unreachable_steps_unknown_steps_and_bad_conditions_are_reported() -> None:
    document = small_document()
    operation = document["unit_procedures"][0]["operations"][0]
    operation["transitions"] = [{"from": ["PH1"], "to": ["PH2"]}, {"from": ["PH2"], "to": ["PH9"], "when": "PH2 >"}]
    assert problems_of(document) == [
        "unit_procedures[0].operations[0].transitions[1].to: unknown step 'PH9' (steps here: PH1, PH2, PH3)",
        "unit_procedures[0].operations[0].transitions[1].when: 'PH2 >' is not a valid expression: invalid syntax",
    ]
    operation["transitions"] = [{"from": ["PH1"], "to": ["PH2"]}]
    assert problems_of(document) == [
        "unit_procedures[0].operations[0].transitions: step 'PH3' is unreachable from the initial step 'PH1'"
    ]


@pytest.mark.requirement("URS-REC-002")
def test_parallel_branches_must_run_on_different_units() -> None:
    document = small_document()
    document["unit_procedures"].append(
        {
            "id": "UP3",
            "name": "Also fill",
            "equipment": {"unit_class": "filler", "unit": "FS-01"},
            "operations": [{"name": "Fill", "phases": [{"name": "Go", "type": "instruction", "text": "Fill."}]}],
        }
    )
    document["transitions"] = [{"from": ["UP1"], "to": ["UP2", "UP3"]}]
    assert problems_of(document) == [
        "transitions[0].to: UP2 and UP3 run in parallel on the same unit FS-01; parallel branches need different units"
    ]
    document["unit_procedures"][2]["equipment"]["unit"] = "FS-02"
    recipe = parse_document(document)
    assert recipe.transitions[0].targets == ("UP2", "UP3")


@pytest.mark.requirement("URS-REC-002")
def test_a_calculation_may_read_only_parameters_and_earlier_results() -> None:
    document = small_document()
    phases = document["unit_procedures"][0]["operations"][0]["phases"]
    phases.insert(0, {"name": "Calc", "type": "calculation", "expression": "PH3 * charge + UP2.OP1.PH1"})
    found = problems_of(document)
    assert found == [
        "unit_procedures[0].operations[0].phases[0].expression: 'PH3' is not a formula parameter or the result "
        "of an earlier phase",
        "unit_procedures[0].operations[0].phases[0].expression: 'UP2.OP1.PH1' is not a formula parameter or the "
        "result of an earlier phase",
    ]
    phases.append({"name": "Calc 2", "type": "calculation", "expression": "PH3 * charge + UP1.OP1.PH2"})
    del phases[0]
    parse_document(document)


def test_limits_out_of_order_and_bad_batch_sizes_are_reported() -> None:
    document = small_document()
    document["batch_size"]["min"] = Decimal(150)
    document["unit_procedures"][0]["operations"][0]["phases"][2]["low"] = 40
    found = problems_of(document)
    assert "batch_size: need 0 < min ≤ nominal ≤ max, got 150, 100, 200" in found
    assert "unit_procedures[0].operations[0].phases[2].low: 40 is above high 30" in found


def test_the_example_files_are_shipped_with_the_package() -> None:
    assert "T-100" in example_text(LIQUID)
    assert "SC-01" in example_text(SOLID)


@pytest.mark.requirement("URS-REC-002")
def test_problems_in_a_yaml_file_name_their_line_as_well_as_their_path() -> None:
    text = example_text(SOLID).replace(
        "tolerance: 0.006, tolerance_unit: kg}", "tolerance: a bit, tolerance_unit: kg}", 1
    )
    lines = text.splitlines()
    expected = next(n for n, line in enumerate(lines, start=1) if "a bit" in line)
    with pytest.raises(RecipeInvalid) as caught:
        parse_yaml(text)
    assert caught.value.problems == [
        f"bill_of_materials.materials[4].tolerance (line {expected}): not a decimal: 'a bit'" + HINT
    ]


@pytest.mark.requirement("URS-REC-002")
def test_graph_problems_are_reported_together_with_wrong_fields() -> None:
    document = small_document()
    operation = document["unit_procedures"][0]["operations"][0]
    operation["phases"][2]["type"] = "teleport"
    operation["transitions"] = [{"from": ["PH1"], "to": ["PH2"]}, {"from": ["PH2"], "to": ["PH1"]}]
    assert problems_of(document) == [
        "unit_procedures[0].operations[0].phases[2].type: unknown phase type 'teleport' (known: instruction, "
        "data_entry, weigh_dispense, dosing, timed_hold, equipment_check, sample, calculation, sign_off)",
        "unit_procedures[0].operations[0].transitions: step 'PH3' is unreachable from the initial step 'PH1'",
        "unit_procedures[0].operations[0].transitions: cycle PH1 → PH2 → PH1 has no transition with a condition; "
        "it could never be left (add a 'when' to the transition that loops back)",
    ]


def test_a_phase_id_that_equals_a_parameter_name_is_refused() -> None:
    document = small_document()
    document["unit_procedures"][0]["operations"][0]["phases"][0]["id"] = "charge"
    assert problems_of(document) == [
        "unit_procedures[0].operations[0].phases[0].id: 'charge' is also a formula parameter; rename one "
        "(expressions could not tell them apart)"
    ]
