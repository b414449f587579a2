"""``ebr material`` and ``ebr lot``: the warehouse and QA without a browser."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner

from ebr.cli import main
from tests.integration.execution.conftest import PASSWORD, Floor
from tests.integration.materials.support import today
from tests.integration.materials.test_lots_api import pdf_text


def run(floor: Floor, *args: str, password: bool = True) -> tuple[int, str]:
    env = {
        "EBR_DATABASE_URL": floor.services.settings.database_url,
        "EBR_DATA_DIR": str(floor.services.settings.data_dir),
    }
    done = CliRunner().invoke(main, list(args), env=env, input=f"{PASSWORD}\n" if password else None)
    return done.exit_code, done.output


@pytest.mark.requirement("URS-MAT-004")
def test_qa_receives_labels_and_releases_a_lot_from_the_command_line(floor: Floor, tmp_path: Path) -> None:
    code, out = run(floor, "material", "add", "RM-C", "--name", "Citric acid", "--unit", "kg", "--retest-days", "30",
                    "--user", "quinn", "--password-stdin")  # fmt: skip
    assert code == 0, out
    expiry = (today(floor.services) + dt.timedelta(days=400)).isoformat()
    code, out = run(floor, "lot", "receive", "--material", "RM-C", "--lot", "C-1", "--supplier", "Acme",
                    "--supplier-lot", "A-1", "--containers", "3", "--quantity", "12.5", "--expires", expiry,
                    "--user", "quinn", "--password-stdin")  # fmt: skip
    assert code == 0, out
    assert "3 containers, 37.5 kg" in out
    label_file = tmp_path / "labels.pdf"
    code, out = run(floor, "lot", "labels", "C-1", "--out", str(label_file), password=False)
    assert code == 0, out
    assert "C-1-003" in pdf_text(label_file.read_bytes())
    code, out = run(floor, "lot", "release", "C-1", "--reason", "CoA OK", "--user", "quinn", "--password-stdin")
    assert code == 0, out
    assert "is now released (signed released by quinn)" in out
    code, out = run(floor, "lot", "show", "C-1", password=False)
    assert "C-1-002  12.5 / 0 / 0 / 12.5 kg" in out


def test_an_operator_cannot_release_from_the_command_line(floor: Floor) -> None:
    run(floor, "material", "add", "RM-C", "--name", "C", "--unit", "kg", "--user", "quinn", "--password-stdin")
    expiry = (today(floor.services) + dt.timedelta(days=400)).isoformat()
    run(floor, "lot", "receive", "--material", "RM-C", "--lot", "C-2", "--supplier", "A", "--supplier-lot", "B",
        "--container", "5", "--expires", expiry, "--user", "quinn", "--password-stdin")  # fmt: skip
    code, out = run(floor, "lot", "release", "C-2", "--reason", "ok", "--user", "olga", "--password-stdin")
    assert code == 2
    assert "lot.status.change" in out
    code, out = run(floor, "lot", "list", "--status", "quarantine", password=False)
    assert "C-2" in out
