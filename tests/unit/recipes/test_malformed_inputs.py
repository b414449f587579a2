"""Issue 19: every crash class and every silently accepted input, through ``ebr recipe validate``.

Each input must end in exit status 2 with one line that names the file, the place
and the problem: never a traceback (exit 1) and never "ok".
"""

from __future__ import annotations

import copy
import re
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from ebr.cli import main
from recipes.batchml import NS, NS_V02, export_batchml
from tests.unit.recipes.helpers import LIQUID, example, example_text, small_document


def validate(path: Path) -> tuple[int, str]:
    """Exit status and output of ``ebr recipe validate PATH`` (exceptions are caught, as in a shell)."""
    result = CliRunner().invoke(main, ["recipe", "validate", str(path)], catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return 1, f"traceback: {type(result.exception).__name__}: {result.exception}"
    return result.exit_code, result.output


def refused(tmp_path: Path, data: bytes, name: str = "recipe.yaml") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    code, out = validate(path)
    assert code == 2, out
    assert "Traceback" not in out
    first = out.splitlines()[0]
    assert first.startswith(f"error: {path}"), out
    return re.sub(r" \(line \d+\)", "", out)


def plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def yaml_of(document: dict[str, Any]) -> bytes:
    return yaml.safe_dump(plain(document), allow_unicode=True, sort_keys=False).encode("utf-8")


# -- crash classes: each was a Python traceback ------------------------------------------------


@pytest.mark.requirement("URS-REC-002")
@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (example_text(LIQUID).encode("utf-8") + b"\n# \xff\xfe\n", "byte 0xff is not valid UTF-8"),
        (example_text(LIQUID).encode("utf-16") + b"\x00\xd8", "is not valid UTF-16"),
        (example_text(LIQUID).encode("utf-16-be"), "is not valid UTF-8: save the file as UTF-8"),
    ],
    ids=["bad-utf8", "bad-utf16", "utf16-without-bom"],
)
def test_bytes_that_are_not_text_in_their_encoding_are_one_error_line(
    tmp_path: Path, data: bytes, expected: str
) -> None:
    assert expected in refused(tmp_path, data)


@pytest.mark.requirement("URS-REC-002")
@pytest.mark.parametrize("character", ["\x00", "\x1b", "\uffff"], ids=["NUL", "ESC", "U+FFFF"])
def test_control_characters_in_yaml_are_one_error_line_with_their_place(tmp_path: Path, character: str) -> None:
    text = example_text(LIQUID).replace("title: Paracetamol", f"title: Para{character}cetamol")
    out = refused(tmp_path, text.encode("utf-8"))
    assert f"line 4, column 12: control character U+{ord(character):04X} is not allowed" in out


@pytest.mark.requirement("URS-REC-002")
def test_an_integer_of_5000_digits_is_refused_not_converted(tmp_path: Path) -> None:
    text = example_text(LIQUID).replace("nominal: 1000,", "nominal: " + "7" * 5000 + ",")
    assert "a number of 5000 digits is longer than the 30 digits" in refused(tmp_path, text.encode("utf-8"))


@pytest.mark.requirement("URS-REC-002")
def test_a_list_where_an_id_belongs_is_a_schema_problem(tmp_path: Path) -> None:
    document = small_document()
    document["unit_procedures"][0]["id"] = [1]
    assert "unit_procedures[0].id: not a text" in refused(tmp_path, yaml_of(document))


@pytest.mark.requirement("URS-REC-005")
def test_a_v02_reference_without_a_value_string_is_a_problem_with_its_path(tmp_path: Path) -> None:
    data = export_batchml(example(LIQUID)).replace(NS.encode(), NS_V02.encode())
    marker = b"<ValueString>water_charge</ValueString>"
    assert marker in data
    out = refused(tmp_path, data.replace(marker, b"", 1), "recipe.xml")
    assert "/Parameter[target]/Value: no ValueString: give the value" in out


@pytest.mark.requirement("URS-REC-002")
@pytest.mark.parametrize("namespace", [NS, NS_V02], ids=["V0701", "V02"])
def test_an_external_entity_is_refused_naming_the_attack(tmp_path: Path, namespace: str) -> None:
    data = export_batchml(example(LIQUID)).replace(NS.encode(), namespace.encode())
    hostile = data.replace(
        b"<?xml version='1.0' encoding='UTF-8'?>",
        b"<?xml version='1.0' encoding='UTF-8'?>\n<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/hostname\">]>",
    ).replace(b"<Description>", b"<Description>&e; and the text after it ", 1)
    out = refused(tmp_path, hostile, "recipe.xml")
    assert "line 2, column 1: a DTD with an external entity or reference is refused (XXE" in out


# -- silently accepted: each said "ok" --------------------------------------------------------


@pytest.mark.requirement("URS-REC-005")
def test_a_link_to_an_unknown_id_is_refused_instead_of_dropping_the_transition(tmp_path: Path) -> None:
    data = export_batchml(example(LIQUID))
    loop = b"<ToIDValue>PH5</ToIDValue>"
    assert loop in data
    out = refused(tmp_path, data.replace(loop, b"<ToIDValue>PH55</ToIDValue>", 1), "recipe.xml")
    assert "ToID 'PH55' (Step) names no step, transition or link here" in out


NEGATIVE = [
    (("unit_procedures", 0, "operations", 0, "phases", 0, "target"), "-5", "phases[0].target: must be positive"),
    (("unit_procedures", 0, "equipment", "min_capacity"), "-100", "equipment.min_capacity: must be positive"),
    (("formula", "parameters", 0, "value"), "-80.0", "phases[0].target: must be positive, got -80.0 (charge)"),
]


def _set(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    node: Any = document
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


@pytest.mark.requirement("URS-REC-002")
@pytest.mark.parametrize(("path", "value", "expected"), NEGATIVE, ids=["dosing-target", "capacity", "via-param"])
def test_negative_quantities_and_capacities_are_refused(
    tmp_path: Path, path: tuple[Any, ...], value: str, expected: str
) -> None:
    document = small_document()
    _set(document, path, value)
    if path[-1] == "min_capacity":
        document["unit_procedures"][0]["equipment"]["capacity_unit"] = "L"
    assert expected in refused(tmp_path, yaml_of(document))


EXTRA_PHASES: list[tuple[dict[str, Any], str]] = [
    ({"name": "Rate", "type": "dosing", "source": "T-100", "destination": "R-101", "target": 5, "unit": "L",
      "tolerance": 1, "tolerance_unit": "L", "rate": -2, "rate_unit": "L/min"}, "rate: must be positive, got -2"),
    ({"name": "Hold", "type": "timed_hold", "min_duration": -10, "unit": "min"},
     "min_duration: must not be negative, got -10"),
    ({"name": "Hold", "type": "timed_hold", "min_duration": 1, "max_duration": -1, "unit": "min"},
     "max_duration: must be positive, got -1"),
    ({"name": "Sample", "type": "sample", "tests": ["pH"], "quantity": -50, "unit": "mL"},
     "quantity: must be positive, got -50"),
]  # fmt: skip


@pytest.mark.requirement("URS-REC-002")
@pytest.mark.parametrize(("phase", "expected"), EXTRA_PHASES, ids=["rate", "duration", "max-duration", "sample"])
def test_negative_rates_durations_and_sample_quantities_are_refused(
    tmp_path: Path, phase: dict[str, Any], expected: str
) -> None:
    document = small_document()
    document["unit_procedures"][0]["operations"][0]["phases"].append(copy.deepcopy(phase))
    assert f"phases[3].{expected}" in refused(tmp_path, yaml_of(document))


@pytest.mark.requirement("URS-REC-002")
@pytest.mark.parametrize("unit", ["furlong", "mℓ", "Â°C", "🧪"])
def test_units_that_do_not_exist_are_refused_with_the_field(tmp_path: Path, unit: str) -> None:
    document = small_document()
    document["unit_procedures"][0]["operations"][0]["phases"][2]["unit"] = unit
    out = refused(tmp_path, yaml_of(document))
    assert f"unit_procedures[0].operations[0].phases[2].unit: unit {unit!r}" in out


@pytest.mark.requirement("URS-REC-002")
def test_a_duplicate_yaml_key_is_refused_instead_of_the_last_one_winning(tmp_path: Path) -> None:
    text = example_text(LIQUID).replace("title: Paracetamol", "title: Other\ntitle: Paracetamol")
    assert "line 5, column 1: duplicate key 'title' (first at line 4): keep one" in refused(tmp_path, text.encode())


@pytest.mark.requirement("URS-REC-002")
@pytest.mark.parametrize(
    ("number", "expected"),
    [("0x3E8", "not a decimal: '0x3E8'"), ("1_000", "not a decimal: '1_000'"), ("١٠٠٠", "not a decimal: '١٠٠٠'"),
     ("1e400", "not a decimal: '1e400'"), ("1.0e+400", "not a decimal: '1.0e+400'"), ("01000", "not a decimal")],
    ids=["hex", "underscore", "arabic-indic", "exponent", "float-exponent", "leading-zero"],
)  # fmt: skip
def test_numbers_that_are_not_plain_decimals_are_refused(tmp_path: Path, number: str, expected: str) -> None:
    text = example_text(LIQUID).replace("nominal: 1000,", f"nominal: {number},")
    out = refused(tmp_path, text.encode("utf-8"))
    assert expected in out
    assert "line 10" in out or "batch_size.nominal: " in out


@pytest.mark.requirement("URS-REC-002")
def test_a_50_mb_file_is_refused_in_under_a_second_with_little_memory(tmp_path: Path) -> None:
    path = tmp_path / "huge.xml"
    row = b"<Description>not mapped</Description>\n"
    with path.open("wb") as out:
        out.write(b'<BatchInformation xmlns="http://www.wbf.org/xml/BatchML-V02"><MasterRecipe><ID>X</ID>\n')
        out.write(row * (50 * 1024 * 1024 // len(row)))
        out.write(b"</MasterRecipe></BatchInformation>\n")
    tracemalloc.start()
    start = time.perf_counter()
    code, out_text = validate(path)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert code == 2
    assert f"error: {path}: file: larger than the limit of 16,777,216 bytes (EBR_INPUT_MAX_BYTES)" in out_text
    assert seconds < 1.0
    assert peak < 100 * 1024 * 1024
