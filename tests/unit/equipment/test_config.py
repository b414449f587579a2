"""The plant configuration file: the shipped example loads; every problem names its path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from equipment.config import load_plant_config, parse_plant_config
from equipment.errors import PlantConfigError

EXAMPLE = Path(__file__).resolve().parents[3] / "equipment" / "examples" / "plant.yaml"


def example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    return data


def test_the_shipped_example_maps_every_simulator_tag() -> None:
    config = load_plant_config(EXAMPLE)
    assert config.tags["R-101.level"].node == "ns=2;s=R-101.level"
    assert config.tags["SC-01.weight"].modbus is not None
    assert config.tags["SC-01.weight"].modbus.scale == 0.001
    assert config.dosing["R-101"].level_high_high == 1800
    assert "R-101.HEAT" in config.plc_phases


@pytest.mark.requirement("URS-SYS-004")
def test_every_problem_is_reported_at_once_with_its_path() -> None:
    data = example()
    data["endpoints"]["plant"]["url"] = "http://plc"
    data["endpoints"]["plant"]["password"] = "secret"
    data["equipment"]["R-101"]["tags"]["level"]["endpoint"] = "nowhere"
    data["equipment"]["SC-01"]["tags"]["weight"]["modbus"]["data_type"] = "float64"
    data["dosing"]["R-101"]["pump"] = "R-101.pump_running"
    with pytest.raises(PlantConfigError) as caught:
        parse_plant_config(data)
    problems = caught.value.problems
    assert any(p.startswith("endpoints.plant.url:") for p in problems)
    assert any(p.startswith("endpoints.plant.password:") and "password_env" in p for p in problems)
    assert any(p.startswith("equipment.R-101.tags.level.endpoint:") for p in problems)
    assert any(p.startswith("equipment.SC-01.tags.weight.modbus.data_type:") for p in problems)
    assert any(p.startswith("dosing.R-101.pump:") and "writable" in p for p in problems)


def test_secured_endpoints_need_a_certificate_and_key_that_exist(tmp_path: Path) -> None:
    data = example()
    data["endpoints"]["plant"]["security"] = {"mode": "SignAndEncrypt", "certificate": "missing.der"}
    with pytest.raises(PlantConfigError) as caught:
        parse_plant_config(data, path=tmp_path / "plant.yaml")
    text = str(caught.value)
    assert "endpoints.plant.security.certificate: file" in text
    assert "needs certificate and private_key" in text


def test_a_file_that_is_not_yaml_is_refused_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "plant.yaml"
    path.write_text("endpoints: [unclosed", encoding="utf-8")
    with pytest.raises(PlantConfigError, match=r"plant\.yaml is not valid YAML"):
        load_plant_config(path)


def test_a_trust_list_must_be_a_folder_with_certificates(tmp_path: Path) -> None:
    (tmp_path / "client-cert.der").write_bytes(b"x")
    (tmp_path / "client-key.pem").write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    data = example()
    data["endpoints"]["plant"]["security"] = {
        "mode": "SignAndEncrypt", "certificate": "client-cert.der", "private_key": "client-key.pem",
        "trusted_certificates": "empty", "revocation_lists": "crl",
    }  # fmt: skip
    with pytest.raises(PlantConfigError) as caught:
        parse_plant_config(data, path=tmp_path / "plant.yaml")
    text = str(caught.value)
    assert "endpoints.plant.security.trusted_certificates: folder" in text
    assert "holds no .der or .pem file" in text
    assert "endpoints.plant.security.revocation_lists: folder" in text
    assert "does not exist" in text
    (tmp_path / "empty" / "plant-server.der").write_bytes(b"x")
    del data["endpoints"]["plant"]["security"]["revocation_lists"]
    loaded = parse_plant_config(data, path=tmp_path / "plant.yaml")
    assert loaded.endpoints["plant"].security.trusted_certificates == tmp_path / "empty"
