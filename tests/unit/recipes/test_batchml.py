"""BatchML V0701 export and V0701/V02 import."""

from __future__ import annotations

from pathlib import Path

import pytest
import xmlschema
from lxml import etree

from recipes.authoring import RecipeInvalid
from recipes.batchml import NS, export_batchml, schema_path
from recipes.batchml_import import read_batchml
from recipes.model import Instruction, PhaseType
from tests.unit.recipes.helpers import LIQUID, SOLID, example

DATA = Path(__file__).parent / "data"

FOREIGN_UNMAPPED = [
    "BatchInformation/ListHeader: not mapped: 'export-2019-07'",
    "MasterRecipe[BUFFER-A]/Header/EffectiveDate: not mapped: '2019-07-15T00:00:00Z'",
    "MasterRecipe[BUFFER-A]/Formula/Parameter[WaterVolume]: renamed to water_volume (parameter names are "
    "lower_snake_case)",
    "MasterRecipe[BUFFER-A]/Formula/Parameter[RM-NA2HPO4]/Parameter[Supplier]: not mapped: Supplier = 'ACME'",
    "MasterRecipe[BUFFER-A]/Formula/Parameter[Buffer]: ParameterType ProcessOutput: not mapped: Buffer (no value) "
    "(only ProcessInput, ProcessParameter and the ProcessOutput yield map)",
    "MasterRecipe[BUFFER-A]/VersionDate: not mapped: '2019-07-01T08:00:00Z'",
    "MasterRecipe[BUFFER-A]/OtherInformation: not mapped: 'Comment Migrated from the old system'",
    "MasterRecipe[BUFFER-A]/ProcedureLogic/Transition[T1]: condition '<step>.State = Complete' implied: a transition "
    "fires when its sources are complete",
    "phase of another system read as an instruction; its parameters as listed in it (2×): "
    "MasterRecipe[BUFFER-A]/RecipeElement[UP_MIX]/RecipeElement[OP_CHARGE]/RecipeElement[PH_ADD_WATER], "
    "MasterRecipe[BUFFER-A]/RecipeElement[UP_MIX]/RecipeElement[OP_CHARGE]/RecipeElement[PH_AGITATE]",
]


@pytest.fixture(scope="module")
def independent_schema() -> xmlschema.XMLSchema:
    """The V0701 schema compiled by xmlschema, a validator independent of the lxml one we use."""
    return xmlschema.XMLSchema(schema_path())


@pytest.mark.requirement("URS-REC-005")
@pytest.mark.parametrize("name", [LIQUID, SOLID])
def test_the_export_is_a_batchinformation_master_recipe_that_validates_against_v0701(
    name: str, independent_schema: xmlschema.XMLSchema
) -> None:
    data = export_batchml(example(name), version="3")
    independent_schema.validate(data.decode("utf-8"))
    root = etree.fromstring(data)
    assert root.tag == f"{{{NS}}}BatchInformation"
    assert root.findtext(f"{{{NS}}}MasterRecipe/{{{NS}}}Version") == "3"


@pytest.mark.requirement("URS-REC-005")
@pytest.mark.parametrize("name", [LIQUID, SOLID])
def test_export_import_export_is_stable_and_loses_nothing(name: str) -> None:
    recipe = example(name)
    first = export_batchml(recipe, version="1")
    [imported] = read_batchml(first)
    assert imported.unmapped == ()
    assert imported.recipe == recipe
    assert imported.format == "BatchML V0701"
    assert export_batchml(imported.recipe, version="1") == first


@pytest.mark.requirement("URS-REC-005")
@pytest.mark.parametrize(("file", "fmt"), [("foreign-v0701.xml", "BatchML V0701"), ("foreign-v02.xml", "BatchML V02")])
def test_a_recipe_from_another_system_maps_what_maps_and_lists_exactly_what_did_not(file: str, fmt: str) -> None:
    [imported] = read_batchml((DATA / file).read_bytes(), source=file)
    assert imported.format == fmt
    assert imported.version == "7"
    assert list(imported.unmapped) == FOREIGN_UNMAPPED
    recipe = imported.recipe
    assert recipe.name == "BUFFER-A"
    assert recipe.batch_size.max == 600
    assert recipe.formula.get("water_volume").scaled is True  # type: ignore[union-attr]
    assert recipe.bill_of_materials.get("RM-NA2HPO4").unit == "kg"  # type: ignore[union-attr]
    [up] = recipe.unit_procedures
    assert (up.id, up.equipment.unit, up.equipment.unit_class) == ("UP_MIX", "T-200", "mixing_tank")
    assert [p for p, _ in recipe.phases()] == ["UP_MIX.OP_CHARGE.PH_ADD_WATER", "UP_MIX.OP_CHARGE.PH_AGITATE"]
    assert all(phase.type is PhaseType.INSTRUCTION for _, phase in recipe.phases())
    add_water = recipe.phase("UP_MIX.OP_CHARGE.PH_ADD_WATER").params
    assert add_water == Instruction("Add water for injection\nAmount: water_volume (reference to the formula)")


@pytest.mark.requirement("URS-REC-005")
def test_xml_that_fails_the_v0701_schema_is_refused_listing_every_violation() -> None:
    text = (DATA / "foreign-v0701.xml").read_text(encoding="utf-8")
    broken = text.replace('<Nominal unitCode="L">500</Nominal>', '<Nominal unitCode="L">five hundred</Nominal>')
    broken = broken.replace("<Scaled>Yes</Scaled>", "<Scaled>Maybe</Scaled>", 1)
    with pytest.raises(RecipeInvalid, match="fails the BatchML V0701 schema; nothing was imported") as caught:
        read_batchml(broken.encode("utf-8"), source="broken.xml")
    assert len(caught.value.problems) == 2
    assert any("five hundred" in p for p in caught.value.problems)
    assert any("Maybe" in p for p in caught.value.problems)


@pytest.mark.requirement("URS-REC-002")
def test_malformed_xml_and_foreign_namespaces_are_refused_with_a_clear_reason() -> None:
    with pytest.raises(RecipeInvalid, match="not well-formed XML") as caught:
        read_batchml(b"<BatchInformation><MasterRecipe></BatchInformation>")
    assert str(caught.value).startswith("document: line 1, column ")
    with pytest.raises(RecipeInvalid, match="not BatchML"):
        read_batchml(b'<recipe xmlns="urn:example:other"/>')


@pytest.mark.requirement("URS-REC-002")
def test_entities_are_not_expanded_when_reading_xml() -> None:
    hostile = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b'<BatchInformation xmlns="http://www.wbf.org/xml/BatchML-V02"><MasterRecipe><ID>&e;</ID>'
        b"</MasterRecipe></BatchInformation>"
    )
    with pytest.raises(RecipeInvalid) as caught:
        read_batchml(hostile)
    assert "root:" not in str(caught.value)


@pytest.mark.requirement("URS-REC-002")
def test_a_batchml_recipe_with_a_graph_error_is_refused_whole() -> None:
    data = export_batchml(example(LIQUID)).replace(
        b'<Condition>PH6 == "hazy"</Condition>', b"<Condition>TRUE</Condition>"
    )
    with pytest.raises(RecipeInvalid, match="nothing was imported") as caught:
        read_batchml(data)
    assert caught.value.problems == [
        "MasterRecipe[PCM-SOL-24]: unit_procedures[0].operations[2].transitions: cycle PH5 → PH6 → PH5 has no "
        "transition with a condition; it could never be left (add a 'when' to the transition that loops back)"
    ]


@pytest.mark.requirement("URS-REC-002")
def test_two_recipe_elements_with_the_same_id_are_refused_instead_of_one_being_dropped() -> None:
    data = export_batchml(example(SOLID)).replace(b"<ID>UP1.OP3.PH2</ID>", b"<ID>UP1.OP3.PH1</ID>", 1)
    with pytest.raises(RecipeInvalid, match="nothing was imported") as caught:
        read_batchml(data)
    assert caught.value.problems[0] == (
        "MasterRecipe[MET-500-DISP]/RecipeElement[UP1]/RecipeElement[UP1.OP3]/RecipeElement[UP1.OP3.PH1]: two "
        "RecipeElements with this ID; IDs must be unique"
    )
