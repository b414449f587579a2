"""``ebr recipe …``: validate, import, submit, approve, list, export, diff from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
import xmlschema
from click.testing import CliRunner

from ebr.bootstrap import build_services
from ebr.cli import main
from ebr.core.config import Settings
from recipes.batchml import schema_path
from tests.unit.recipes.helpers import LIQUID, example_text

PW = "Correct-Horse-42"


def run(args: list[str], env: dict[str, str], stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, args, env=env, input=stdin, catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    built = build_services(settings)
    try:
        with built.session_factory.begin() as session:
            for user_id, role in (("anna", "recipe_author"), ("paul", "recipe_approver")):
                built.users.create(
                    session, actor="system:test", user_id=user_id, full_name=user_id.title(), roles=[role],
                    password=PW, must_change=False,
                )  # fmt: skip
                built.users.accept_accountability(session, user_id=user_id)
    finally:
        built.close()
    return {"EBR_DATABASE_URL": settings.database_url, "EBR_DATA_DIR": str(settings.data_dir)}


@pytest.fixture
def liquid_file(tmp_path: Path) -> Path:
    path = tmp_path / LIQUID
    path.write_text(example_text(LIQUID), encoding="utf-8")
    return path


@pytest.mark.requirement("URS-REC-002")
def test_validate_reports_every_problem_and_exits_2(tmp_path: Path, liquid_file: Path) -> None:
    code, out = run(["recipe", "validate", str(liquid_file)], {})
    assert code == 0, out
    assert "ok: PCM-SOL-24 (Paracetamol oral solution 24 mg/mL, 1000 L): 2 unit procedures, 27 phases" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        example_text(LIQUID).replace("tolerance: 2.0", "tolerance: two").replace("type: sample", "type: sampel")
    )
    code, out = run(["recipe", "validate", str(bad)], {})
    assert code == 2
    assert "has 2 problem(s); nothing was imported" in out
    assert "unit_procedures[0].operations[3].phases[0].type (line 96): unknown phase type 'sampel'" in out
    assert "unit_procedures[0].operations[1].phases[0].tolerance (line 63): not a decimal" in out


@pytest.mark.requirement("URS-REC-003")
def test_import_submit_approve_list_export_and_diff_from_the_command_line(
    env: dict[str, str], liquid_file: Path, tmp_path: Path
) -> None:
    code, out = run(["recipe", "import", str(liquid_file), "--user", "anna", "--password-stdin"], env, PW + "\n")
    assert code == 0, out
    assert "imported PCM-SOL-24@1 (draft)" in out
    code, out = run(["recipe", "submit", "PCM-SOL-24@1", "--user", "anna"], env, PW + "\n")
    assert code == 0, out
    code, out = run(["recipe", "approve", "PCM-SOL-24@1", "--user", "anna", "--password-stdin"], env, PW + "\n")
    assert code == 2
    assert "not permitted with your roles (recipe_author)" in out
    code, out = run(
        ["recipe", "approve", "PCM-SOL-24@1", "--user", "paul", "--effective-from", "2020-01-01T00:00:00Z"],
        env,
        PW + "\n",
    )
    assert code == 2
    assert "an approval cannot be backdated" in out
    code, out = run(
        ["recipe", "approve", "PCM-SOL-24@1", "--user", "paul", "--effective-from", "2099-01-01T00:00:00Z"],
        env,
        PW + "\n",
    )
    assert code == 0, out
    assert "effective from 2099-01-01 00:00 UTC" in out
    code, out = run(["recipe", "list"], env)
    assert "PCM-SOL-24@1" in out
    assert "approved" in out
    target = tmp_path / "out.xml"
    code, out = run(["recipe", "export", "PCM-SOL-24@1", "--format", "batchml", "-o", str(target)], env)
    assert code == 0, out
    xmlschema.XMLSchema(schema_path()).validate(str(target))
    code, out = run(["recipe", "import", str(target), "--user", "anna", "--password-stdin"], env, PW + "\n")
    assert "imported PCM-SOL-24@2 (draft)" in out
    code, out = run(["recipe", "diff", "PCM-SOL-24@1", "PCM-SOL-24@2"], env)
    assert code == 0
    assert "have the same content" in out
