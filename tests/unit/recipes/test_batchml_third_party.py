"""Issue 19: a master recipe written by a third-party tool (tests/data/batchml) imports faithfully."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from ebr.cli import main
from recipes.authoring import RecipeInvalid
from recipes.batchml import export_batchml
from recipes.batchml_import import Imported, read_batchml
from recipes.model import Instruction, Recipe, Transition
from recipes.reading import read_recipes
from tests.data.batchml.generate import document

DATA = Path(__file__).parents[2] / "data" / "batchml"
FILES = ["third-party-v02.xml", "third-party-v0701.xml"]


def imported(file: str) -> Imported:
    [result] = read_batchml((DATA / file).read_bytes(), source=file)
    return result


@pytest.mark.parametrize("version", ["v02", "v0701"])
def test_the_files_in_tests_data_are_what_the_generator_writes(version: str) -> None:
    assert (DATA / f"third-party-{version}.xml").read_bytes() == document(version)


@pytest.mark.requirement("URS-REC-005")
@pytest.mark.parametrize("file", FILES)
def test_the_procedure_beside_begin_and_end_steps_keeps_every_level(file: str) -> None:
    recipe = imported(file).recipe
    assert [up.id for up in recipe.unit_procedures] == ["UP_PREP", "UP_FILL"]
    assert [len(up.operations) for up in recipe.unit_procedures] == [5, 6]
    assert sum(1 for _ in recipe.phases()) == 36
    assert recipe.unit_procedures[0].equipment.unit == "T-200"
    assert recipe.unit_procedures[1].equipment.unit_class == "filling_line"
    assert [op.name for op in recipe.unit_procedures[0].operations][:2] == ["Prepare the tank", "Charge water"]


@pytest.mark.requirement("URS-REC-005")
@pytest.mark.parametrize("file", FILES)
def test_parallel_branches_drawn_with_link_junctions_become_a_split_and_a_join(file: str) -> None:
    recipe = imported(file).recipe
    first = recipe.unit_procedures[0].operations[0]
    assert [ph.id for ph in first.phases] == ["PH01", "PH02", "PH03", "PH04"]
    assert first.transitions == (
        Transition(("PH01",), ("PH02", "PH03")),
        Transition(("PH02", "PH03"), ("PH04",)),
    )
    parallel = [op.id for up in recipe.unit_procedures for op in up.operations if op.transitions]
    assert parallel == ["OP01", "OP04", "OP08"]


@pytest.mark.requirement("URS-REC-005")
@pytest.mark.parametrize("file", FILES)
def test_all_51_phase_parameters_survive_with_name_value_and_unit(file: str) -> None:
    recipe = imported(file).recipe
    materials = {m.code: (m.name, m.quantity, m.unit) for m in recipe.bill_of_materials.materials}
    assert materials == {
        "Water": ("Water for injection", Decimal(1), "kL"),
        "NaPhosphate": ("Disodium hydrogen phosphate", Decimal(20), "kg"),
        "NaCl": ("Sodium chloride", Decimal(20), "kg"),
    }
    assert len(recipe.formula.parameters) == 48
    speed = recipe.formula.get("ph02_speed")
    assert speed is not None
    assert (speed.value, speed.unit, speed.description) == (
        Decimal(120),
        "rpm",
        "Start agitator: Agitator speed (integer)",
    )
    heat = recipe.phase("UP_PREP.OP01.PH03").params
    assert isinstance(heat, Instruction)
    assert heat.text == (
        "Heat jacket\nJacket temperature: 25.0 °C (formula parameter ph03_setpoint)\n"
        "Heating rate: 0.5 K/min (formula parameter ph03_rate)"
    )


@pytest.mark.requirement("URS-REC-005")
def test_the_recipe_is_named_after_its_product_not_the_tools_number_and_fallbacks_are_reported() -> None:
    result = imported("third-party-v02.xml")
    recipe: Recipe = result.recipe
    assert recipe.name == "BUF-PB74"
    assert (recipe.product.code, recipe.product.name) == ("BUF-PB74", "BUF-PB74")
    assert (recipe.batch_size.min, recipe.batch_size.nominal, recipe.batch_size.max) == (1000, 1000, 1000)
    assert result.unmapped[:4] == (
        "MasterRecipe[1]/Header/ProductName: empty: product name taken as 'BUF-PB74'",
        "MasterRecipe[1]/Header/BatchSize/Min: empty: taken as 1000",
        "MasterRecipe[1]/Header/BatchSize/Max: empty: taken as 1000",
        "MasterRecipe[1]/ID: '1' is not a recipe name; named 'BUF-PB74' after Header/ProductID (choose with --name)",
    )


@pytest.mark.requirement("URS-REC-005")
def test_repeats_in_the_report_are_one_line_with_their_count_and_every_place() -> None:
    lines = imported("third-party-v0701.xml").unmapped
    [foreign] = [line for line in lines if line.startswith("phase of another system")]
    assert (
        "(36×): MasterRecipe[1]/RecipeElement[1.P]/RecipeElement[UP_PREP]/RecipeElement[OP01]/RecipeElement[PH01], "
        in (foreign)
    )
    assert foreign.endswith("and 16 more")
    [other] = [line for line in lines if line.startswith("not mapped: 'Comment Reviewed 2019' (4×)")]
    assert "RecipeElement[PH05]/OtherInformation" in other
    assert len(lines) == 10


@pytest.mark.requirement("URS-REC-005")
@pytest.mark.parametrize("file", FILES)
def test_import_export_import_gives_the_same_structure(file: str) -> None:
    first = imported(file).recipe
    exported = export_batchml(first, version="1")
    [again] = read_batchml(exported)
    assert again.recipe == first
    assert again.unmapped == ()
    assert export_batchml(again.recipe, version="1") == exported


def test_v02_and_v0701_files_of_the_same_recipe_give_the_same_recipe() -> None:
    v02, v0701 = imported(FILES[0]).recipe, imported(FILES[1]).recipe
    # The two files differ in one word: the data type "real" (V02) is "float" in V0701.
    assert [p.description.replace("(real)", "(float)") for p in v02.formula.parameters] == [
        p.description for p in v0701.formula.parameters
    ]
    assert dataclasses.replace(v02, formula=v0701.formula) == v0701


@pytest.mark.requirement("URS-REC-005")
def test_name_at_import_overrides_the_files_identity() -> None:
    [(recipe, fmt, _)] = read_recipes((DATA / FILES[0]).read_bytes(), source=FILES[0], name="PB74-BUFFER")
    assert (recipe.name, fmt) == ("PB74-BUFFER", "BatchML V02")
    with pytest.raises(RecipeInvalid, match="--name 'two words': not a recipe name"):
        read_recipes((DATA / FILES[0]).read_bytes(), source=FILES[0], name="two words")


def _link(n: int, source: tuple[str, str], target: tuple[str, str]) -> str:
    ends = "".join(
        f"<{side}ID><{side}IDValue>{value}</{side}IDValue><{side}Type>{kind}</{side}Type></{side}ID>"
        for side, (kind, value) in (("From", source), ("To", target))
    )
    return f"<Link><ID>L{n}</ID>{ends}<LinkType>ControlLink</LinkType><Depiction>LineAndArrow</Depiction></Link>"


def _alternative(conditions: tuple[str, str]) -> bytes:
    """One operation: PH1, then PH2 or PH3 by a condition each."""
    links = [
        _link(1, ("Step", "S1"), ("Transition", "T1")),
        _link(2, ("Transition", "T1"), ("Step", "S2")),
        _link(3, ("Step", "S1"), ("Transition", "T2")),
        _link(4, ("Transition", "T2"), ("Step", "S3")),
    ]
    steps = "".join(f"<Step><ID>S{n}</ID><RecipeElementID>PH{n}</RecipeElementID></Step>" for n in (1, 2, 3))
    transitions = "".join(f"<Transition><ID>T{n}</ID><Condition>{c}</Condition></Transition>" for n, c in
                          enumerate(conditions, start=1))  # fmt: skip
    phases = "".join(
        f"<RecipeElement><ID>PH{n}</ID><Description>Step {n}</Description>"
        "<RecipeElementType>Phase</RecipeElementType></RecipeElement>"
        for n in (1, 2, 3)
    )
    return (
        '<BatchInformation xmlns="http://www.wbf.org/xml/BatchML-V02"><MasterRecipe><ID>ALT-1</ID>'
        "<Header><ProductID>P-1</ProductID><ProductName>P</ProductName><BatchSize><Nominal>1</Nominal>"
        "<UnitOfMeasure>kg</UnitOfMeasure></BatchSize></Header>"
        "<RecipeElement><ID>UP1</ID><RecipeElementType>UnitProcedure</RecipeElementType>"
        "<RecipeElement><ID>OP1</ID><RecipeElementType>Operation</RecipeElementType>"
        f"<ProcedureLogic>{''.join(links)}{steps}{transitions}</ProcedureLogic>{phases}"
        "</RecipeElement></RecipeElement></MasterRecipe></BatchInformation>"
    ).encode()


@pytest.mark.requirement("URS-REC-005")
def test_a_choice_between_branches_in_a_language_we_cannot_read_is_refused() -> None:
    with pytest.raises(RecipeInvalid) as caught:
        read_batchml(_alternative(("PH1.Result = 'FAIL'", "PH1.Result = 'PASS'")))
    assert caught.value.problems[0] == (
        "MasterRecipe[ALT-1]/RecipeElement[UP1]/RecipeElement[OP1]/ProcedureLogic/Transition[T1]: condition "
        "\"PH1.Result = 'FAIL'\" chooses between branches but is not in our condition language (names, numbers, "
        "== != < >, and/or/not): rewrite it"
    )


@pytest.mark.requirement("URS-REC-005")
def test_conditions_that_read_in_our_language_are_kept_translated() -> None:
    [result] = read_batchml(_alternative(("1 = 1 AND NOT 2 &lt;&gt; 2", "FALSE")))
    [op] = result.recipe.unit_procedures[0].operations
    assert [t.condition for t in op.transitions] == ["1 == 1 and not 2 != 2", "False"]


@pytest.mark.requirement("URS-REC-005")
def test_validate_prints_the_recipe_and_its_report_and_takes_a_name() -> None:
    path = str(DATA / FILES[0])
    result = CliRunner().invoke(main, ["recipe", "validate", path], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert (
        lines[0]
        == "ok: BUF-PB74 (Phosphate buffer pH 7.4, 1000 L (exported by RecipeTool 5.2)): 2 unit procedures, 36 phases"
    )
    assert len(lines) == 11
    assert all(line.startswith("  not mapped: ") for line in lines[1:])
    named = CliRunner().invoke(main, ["recipe", "validate", path, "--name", "PB74"], catch_exceptions=False)
    assert named.output.startswith("ok: PB74 (")


@pytest.mark.requirement("URS-REC-005")
def test_nothing_a_foreign_file_holds_is_dropped_without_a_line() -> None:
    text = (DATA / FILES[0]).read_text(encoding="utf-8")
    for anchor in (
        "<RecipeElementVersion>1</RecipeElementVersion>",  # in a Step
        "<Depiction>LineAndArrow</Depiction>",  # in a Link
        "<Condition>TRUE</Condition>",  # in a Transition
        "<RecipeElementType>Phase</RecipeElementType>",  # in a phase
        "<ParameterType>ProcessParameter</ParameterType>",  # in a parameter
        "<Condition>T-200</Condition>",  # in a constraint
        "<RecipeElementType>Procedure</RecipeElementType>",  # in the procedure
    ):
        assert anchor in text
        text = text.replace(anchor, f"{anchor}<Vendor>x</Vendor>", 1)
    [result] = read_batchml(text.encode("utf-8"))
    vendor = [line for line in result.unmapped if "/Vendor" in line]
    assert len(vendor) == 7, vendor
    assert result.recipe == imported(FILES[0]).recipe


@pytest.mark.requirement("URS-REC-005")
def test_a_prefixed_v02_file_with_vendor_extensions_and_no_unit_procedures_imports() -> None:
    [result] = read_batchml((DATA / "prefixed-v02-extensions.xml").read_bytes(), source="p.xml")
    recipe = result.recipe
    assert (recipe.name, recipe.product.code, recipe.batch_size.max) == ("Example-MR-7", "BAR-DOUGH-01", 250)
    [up] = recipe.unit_procedures
    assert (up.id, up.name, up.equipment.unit_class) == ("UP1", "Mix and form", "unspecified")
    assert [[ph.id for ph in op.phases] for op in up.operations] == [
        ["PH-DOSE-OATS", "PH-DOSE-WHEY", "PH-KNEAD"],
        ["PH-EXTRUDE"],
    ]
    assert [(m.code, m.quantity, m.unit) for m in recipe.bill_of_materials.materials] == [
        ("Oats", Decimal("120.0"), "kg"),
        ("Whey", Decimal("60.0"), "kg"),
    ]
    assert [(p.name, p.value, p.unit) for p in recipe.formula.parameters] == [
        ("ph_knead_knead_time", Decimal(8), "min"),
        ("ph_extrude_pressure", Decimal("12.5"), "bar"),
    ]
    knead = recipe.phase("UP1.OP-MIX.PH-KNEAD").params
    assert isinstance(knead, Instruction)
    assert knead.text == "Knead\nKneadTime: 8 min (formula parameter ph_knead_knead_time)\nMode: gentle"
    where = "MasterRecipe[Example-MR-7]"
    assert f"{where}/Header/ext:Plant: not mapped: 'Line 3'" in result.unmapped
    hopper = f"{where}/RecipeElement[PROC]/RecipeElement[OP-MIX]/RecipeElement[PH-DOSE-OATS]/ext:Hopper"
    assert f"{hopper}: not mapped: 'H-2'" in result.unmapped
    assert (
        f"{where}/RecipeElement[PROC]: Operation where a UnitProcedure belongs: put in a UnitProcedure of its own "
        "(unit class 'unspecified')"
    ) in result.unmapped
    [again] = read_batchml(export_batchml(recipe))
    assert again.recipe == recipe
