"""`ebr analytics declare | baseline | chart` as QA uses them at a shell."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ebr.bootstrap import Services
from ebr.cli import main
from tests.integration.analytics.support import Plant
from tests.integration.execution.conftest import PASSWORD

PLAN = """
parameters:
  - id: SIMPLE.mix-temperature
    product: FG-SIMPLE
    title: Mixing temperature
    unit: °C
    critical: true
    sources:
      - {recipe: SIMPLE, version: "*", step: UP1.OP1.PH3, entry: value}
"""


@pytest.fixture
def backend() -> str:
    return "sqlite"


def _ebr(services: Services, *args: str, password: str | None = PASSWORD) -> Result:
    env = {"EBR_DATABASE_URL": services.settings.database_url, "EBR_DATA_DIR": str(services.settings.data_dir)}
    return CliRunner().invoke(main, list(args), env=env, input=None if password is None else password + "\n")


def test_qa_declares_a_parameter_sets_its_baseline_and_prints_the_chart(
    services: Services, plant: Plant, tmp_path: Path
) -> None:
    numbers = [plant.released_batch(v) for v in ("20.0", "20.4", "19.8")]
    plan = tmp_path / "cpv.yaml"
    plan.write_text(PLAN, encoding="utf-8")
    declared = _ebr(services, "analytics", "declare", str(plan), "--reason", "CPV-001", "--user", "quinn",
                    "--password-stdin")  # fmt: skip
    assert declared.exit_code == 0, declared.output
    assert f"declared 1 parameter(s) from {plan}" in declared.output
    based = _ebr(services, "analytics", "baseline", "SIMPLE.mix-temperature", *numbers[:2], "--reason", "first two",
                 "--user", "quinn", "--password-stdin")  # fmt: skip
    assert based.exit_code == 0, based.output
    chart = _ebr(services, "analytics", "chart", "SIMPLE.mix-temperature", password=None)
    assert chart.exit_code == 0, chart.output
    assert [line.split("\t")[:2] for line in chart.output.splitlines()[:3]] == [
        [numbers[0], "20.0"], [numbers[1], "20.4"], [numbers[2], "19.8"],
    ]  # fmt: skip
    assert "CL 20.2  LCL 19.14  UCL 21.26" in chart.output


def test_a_bad_plan_or_an_operator_gets_one_clear_line(services: Services, plant: Plant, tmp_path: Path) -> None:
    plan = tmp_path / "cpv.yaml"
    plan.write_text("parameters: [", encoding="utf-8")
    broken = _ebr(services, "analytics", "declare", str(plan), "--reason", "x", "--user", "quinn", "--password-stdin")
    assert broken.exit_code == 2
    assert broken.output.startswith(f"error: {plan} is not valid YAML: ")
    assert broken.output.strip().endswith("; fix it and run again")
    assert len(broken.output.strip().splitlines()) == 1
    plan.write_text(PLAN, encoding="utf-8")
    refused = _ebr(services, "analytics", "declare", str(plan), "--reason", "x", "--user", "olga", "--password-stdin")
    assert refused.exit_code == 2
    assert "'analytics.manage' is not permitted" in refused.output
    plan.write_text(PLAN.replace("title: Mixing temperature", "title: ''"), encoding="utf-8")
    empty = _ebr(services, "analytics", "declare", str(plan), "--reason", "x", "--user", "quinn", "--password-stdin")
    assert empty.exit_code == 2
    assert "title: enter what the parameter is" in empty.output
