"""``ebr.core.inputs``: the one boundary every file passes (bytes, text, YAML, XML, numbers)."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ebr.core import inputs
from ebr.core.inputs import InputError, Limits
from equipment.config import load_plant_config
from equipment.errors import PlantConfigError

EXAMPLES = int(os.environ.get("EBR_FUZZ_EXAMPLES", "120"))
PLANT = Path(__file__).parents[3] / "equipment" / "examples" / "plant.yaml"


def refusal(call: object) -> str:
    with pytest.raises(InputError) as caught:
        call()  # type: ignore[operator]
    line = str(caught.value)
    assert "\n" not in line
    return line


@pytest.mark.requirement("URS-REC-007")
def test_yaml_numbers_are_exact_decimals_and_only_plain_ones() -> None:
    assert inputs.load_yaml(b"a: 12.50\nb: -3\nc: '0x10'\n", "f.yaml") == {
        "a": Decimal("12.50"),
        "b": Decimal(-3),
        "c": "0x10",
    }
    assert inputs.load_yaml(b"a: 1.5\nb: 3\n", "f.yaml", floats=True) == {"a": 1.5, "b": 3}
    assert inputs.load_yaml(b"a: 0o17\n", "f.yaml") == {"a": "0o17"}  # not a number in YAML 1.1: text
    for text in ("0x10", "017", "1_000", "1:30", "1.0e+3", ".inf", ".nan", "9" * 31):
        assert refusal(lambda t=text: inputs.load_yaml(f"a: {t}\n".encode(), "f.yaml")).startswith(
            "f.yaml: line 1, column 4: "
        )


@pytest.mark.requirement("URS-REC-007")
@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"a: &x [1]\nb: *x\n", "line 1, column 4: this value is used again by an alias"),
        (b"a: &x {c: 1}\nb: {<<: *x}\n", "line 1, column 4: this value is used again by an alias"),
        (b"b: {<<: {c: 1}}\n", "line 1, column 5: merge keys (<<) are not allowed"),
        (b"- &x [1]\n- *x\n", "line 1, column 3: this value is used again by an alias"),
        (b"? [1]\n: 2\n", "line 1, column 3: a key must be a plain value"),
        (b"a: !!python/object:os.system x\n", "could not determine a constructor"),
        (b"a: [1\n", "not valid YAML"),
        (b'a: "\\0"\n', "control character U+0000 is not allowed in a text"),
    ],
)
def test_yaml_features_that_hide_content_or_run_code_are_refused(data: bytes, expected: str) -> None:
    assert expected in refusal(lambda: inputs.load_yaml(data, "f.yaml"))


@pytest.mark.requirement("URS-REC-007")
def test_yaml_and_xml_with_more_values_than_the_limit_are_refused() -> None:
    small = Limits(max_nodes=10)
    assert "more than 10 values (EBR_INPUT_MAX_NODES)" in refusal(
        lambda: inputs.load_yaml(b"a: [" + b"1, " * 20 + b"]\n", "f.yaml", limits=small)
    )
    assert "more than 10 elements (EBR_INPUT_MAX_NODES)" in refusal(
        lambda: inputs.parse_xml(b"<a>" + b"<b/>" * 20 + b"</a>", "f.xml", limits=small)
    )


@pytest.mark.requirement("URS-REC-007")
def test_a_file_above_the_size_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"a: 1\n" * 1000)
    line = refusal(lambda: inputs.read_file(path, limits=Limits(max_bytes=1024)))
    assert (
        line == f"{path}: file: larger than the limit of 1,024 bytes (EBR_INPUT_MAX_BYTES): split it or raise the limit"
    )
    assert "cannot be read" in refusal(lambda: inputs.read_file(tmp_path / "missing.yaml"))


@pytest.mark.requirement("URS-REC-007")
def test_text_in_utf16_or_utf32_with_a_byte_order_mark_is_read() -> None:
    for codec in ("utf-8-sig", "utf-16", "utf-32"):
        assert inputs.load_yaml("a: 'é'\n".encode(codec), "f.yaml") == {"a": "é"}
    xml = '<?xml version="1.0" encoding="UTF-16"?><a>é</a>'.encode("utf-16")
    assert inputs.is_xml(xml)
    assert inputs.parse_xml(xml, "f.xml").getroot().text == "é"


@pytest.mark.requirement("URS-REC-007")
@pytest.mark.parametrize(
    ("data", "attack"),
    [
        (b'<!DOCTYPE a [<!ENTITY x "x"><!ENTITY y "&x;&x;">]><a>&y;</a>', "billion laughs"),
        (b'<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>', "XXE, XML external entity"),
        (b'<!DOCTYPE a [<!ENTITY % p SYSTEM "http://example.com/x.dtd"> %p;]><a/>', "XXE"),
        (b'<!DOCTYPE a SYSTEM "http://example.com/a.dtd"><a/>', "XXE"),
        (b"<!DOCTYPE a><a/>", "DTDs carry entity attacks"),
    ],
)
def test_xml_with_a_dtd_is_refused_naming_the_attack(data: bytes, attack: str) -> None:
    line = refusal(lambda: inputs.parse_xml(data, "f.xml"))
    assert line.startswith("f.xml: line 1, column 1: ")
    assert attack in line


@pytest.mark.requirement("URS-REC-007")
@settings(max_examples=EXAMPLES, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_are_read_or_refused_with_one_line(data: bytes) -> None:
    for read in (inputs.load_yaml, inputs.parse_xml):
        try:
            read(data, "f")
        except InputError as exc:
            line = str(exc)
        else:
            line = "f: read"
        assert line.startswith("f: ")


@pytest.mark.requirement("URS-REC-007")
def test_the_plant_configuration_passes_the_same_boundary(tmp_path: Path) -> None:
    assert load_plant_config(PLANT).area
    text = PLANT.read_text(encoding="utf-8")
    twice = tmp_path / "plant.yaml"
    twice.write_text(text + "\narea: again\n", encoding="utf-8")
    with pytest.raises(
        PlantConfigError, match=r"plant.yaml is not valid YAML: line \d+, column 1: duplicate key 'area'"
    ):
        load_plant_config(twice)
