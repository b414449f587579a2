"""`ebr training …` and `ebr equipment …` as QA and a supervisor use them at a shell."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pikepdf
import pytest
from click.testing import CliRunner, Result

from ebr.bootstrap import Services
from ebr.cli import main
from ebr.training.errors import NotQualified
from tests.integration.execution.conftest import PASSWORD, SIMPLE, Floor, recipe, sig


@pytest.fixture
def backend() -> str:
    return "sqlite"


def _ebr(services: Services, *args: str, stdin: str | None = PASSWORD + "\n") -> Result:
    env = {"EBR_DATABASE_URL": services.settings.database_url, "EBR_DATA_DIR": str(services.settings.data_dir)}
    return CliRunner().invoke(main, list(args), env=env, input=stdin)


@pytest.mark.requirement("URS-TRN-001", "URS-TRN-004")
def test_qa_defines_a_curriculum_and_a_requirement_and_a_supervisor_records_a_signed_training(
    services: Services, floor: Floor
) -> None:
    added = _ebr(services, "training", "curriculum", "add", "Reactor R-101", "--sop", "SOP-R101-01",
                 "--validity-days", "365", "--user", "quinn", "--password-stdin")  # fmt: skip
    assert added.exit_code == 0, added.output
    required = _ebr(services, "training", "requirement", "add", "Reactor R-101", "--phase-type", "equipment_check",
                    "--unit", "R-101", "--user", "quinn", "--password-stdin")  # fmt: skip
    assert required.exit_code == 0, required.output
    assert "phase type equipment_check on R-101 requires 'Reactor R-101'" in required.output
    today = dt.datetime.now(dt.UTC).date().isoformat()
    both = f"{PASSWORD}\n{PASSWORD}\n"  # the supervisor's password, then the trainee's signature
    recorded = _ebr(services, "training", "record", "olga", "Reactor R-101", "--trained-on", today, "--user", "sam",
                    "--password-stdin", stdin=both)  # fmt: skip
    assert recorded.exit_code == 0, recorded.output
    assert "signed by olga" in recorded.output
    status = _ebr(services, "training", "status", "olga", stdin=None)
    assert "curriculum 'Reactor R-101' valid until" in status.output
    expiring = _ebr(services, "training", "expiring", "--days", "400", stdin=None)
    assert "olga\tReactor R-101" in expiring.output
    listed = _ebr(services, "training", "requirement", "list", stdin=None)
    assert "phase_type equipment_check on R-101\tReactor R-101" in listed.output
    by_operator = _ebr(services, "training", "record", "otto", "Reactor R-101", "--trained-on", today, "--user", "olga",
                       "--password-stdin", stdin=both)  # fmt: skip
    assert by_operator.exit_code == 2
    assert "'training.record' is not permitted" in by_operator.output
    number = floor.batch(recipe(SIMPLE))
    with pytest.raises(NotQualified, match="otto is not qualified"):
        floor.work(floor.execution.start_step, actor="otto", ref=number, path="UP1.OP1.PH1")


@pytest.mark.requirement("URS-EQP-020", "URS-EQP-021", "URS-EQP-022")
def test_a_supervisor_calibrates_at_the_shell_and_prints_the_logbook(
    services: Services, floor: Floor, tmp_path: Path
) -> None:
    ex = floor.execution
    number = floor.batch(recipe(SIMPLE))
    floor.work(ex.start_step, actor="olga", ref=number, path="UP1.OP1.PH1")
    floor.work(ex.complete_step, actor="olga", ref=number, path="UP1.OP1.PH1", signatures=[sig("olga")])
    failed = _ebr(services, "equipment", "calibrate", "R-101", "--failed", "--certificate", "CAL-77",
                  "--as-found", "+3.9 °C", "--performed-by", "Acme Metrology", "--contractor", "--user", "sam",
                  "--password-stdin")  # fmt: skip
    assert failed.exit_code == 0, failed.output
    assert "calibration FAILED; R-101 is now maintenance" in failed.output
    assert f"  {number}\t" in failed.output
    refused = _ebr(services, "equipment", "calibrate", "SC-01", "--passed", "--user", "olga", "--password-stdin")
    assert refused.exit_code == 2
    assert "equipment.calibrate" in refused.output
    passed = _ebr(services, "equipment", "calibrate", "SC-01", "--passed", "--next-due", "2027-03-01", "--user",
                  "quinn", "--password-stdin")  # fmt: skip
    assert "next due 2027-03-01" in passed.output
    logbook = _ebr(services, "equipment", "logbook", "R-101", stdin=None)
    assert "\tusage\t" in logbook.output
    assert "calibration FAILED by Acme Metrology (contractor)" in logbook.output
    pdf = tmp_path / "R-101.pdf"
    written = _ebr(services, "equipment", "logbook", "R-101", "--pdf", str(pdf), stdin=None)
    assert written.exit_code == 0, written.output
    with pikepdf.open(pdf) as doc:
        assert len(doc.pages) >= 1
    status = _ebr(services, "equipment", "status", "R-101", stdin=None)
    assert "R-101\tmaintenance" in status.output
