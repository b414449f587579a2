"""`ebr plant check` and `ebr plant sync` against the real simulator and database."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from ebr.bootstrap import Services
from ebr.cli import main
from tests.support.plant import start_simulator, write_config


@pytest.mark.requirement("URS-EQP-002")
def test_plant_check_lists_every_tag_it_can_and_cannot_read(tmp_path: Path) -> None:
    with start_simulator(tmp_path) as sim:
        broken = write_config(tmp_path / "broken.yaml", opcua_url=sim.opcua_url, modbus_port=9)
        good = CliRunner().invoke(main, ["plant", "check", str(sim.config_path)])
        bad = CliRunner().invoke(main, ["plant", "check", str(broken), "--timeout", "3"])
    assert good.exit_code == 0, good.output
    assert "25 of 25 tags readable" in good.output
    assert bad.exit_code == 1
    assert "FAIL  SC-01.weight" in bad.output
    assert "ok    R-101.level" in bad.output


def test_plant_check_names_the_path_of_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "plant.yaml"
    path.write_text("version: 1\nendpoints: {plc: {type: opcua, url: 'http://x'}}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["plant", "check", str(path)])
    assert result.exit_code == 2
    assert "endpoints.plc.url" in result.output


@pytest.mark.requirement("URS-EQP-001")
def test_plant_sync_registers_the_configured_equipment_once(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EBR_DATABASE_URL", services.settings.database_url)
    monkeypatch.setenv("EBR_DATA_DIR", str(tmp_path / "data"))
    example = Path(__file__).resolve().parents[3] / "equipment" / "examples" / "plant.yaml"
    first = CliRunner().invoke(main, ["plant", "sync", str(example), "--actor", "ada"])
    second = CliRunner().invoke(main, ["plant", "sync", str(example), "--actor", "ada"])
    assert first.exit_code == 0, first.output
    assert "registered 5 new equipment" in first.output
    assert "registered 0 new equipment" in second.output
    with services.session_factory() as session:
        reactor = services.equipment.get(session, "R-101")
        assert reactor.status == "dirty"
        assert reactor.requires_calibration
        assert reactor.clean_hold_hours == 72
