"""The ebr command: db upgrade/current/downgrade and clear errors for bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ebr.cli import main


def run(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    result = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    return result.exit_code, result.output


@pytest.mark.requirement("URS-SYS-003")
def test_upgrade_current_and_downgrade_an_empty_database(empty_database_url: str, tmp_path: Path) -> None:
    env = {"EBR_DATABASE_URL": empty_database_url, "EBR_DATA_DIR": str(tmp_path)}
    code, out = run(["db", "current"], env)
    assert code == 1
    assert "database is empty" in out
    code, out = run(["db", "upgrade"], env)
    assert code == 0, out
    assert "schema at head" in out
    code, out = run(["db", "current"], env)
    assert code == 0
    code, out = run(["db", "downgrade", "base"], env)
    assert code == 0
    assert "base (empty)" in out


@pytest.mark.requirement("URS-SYS-004")
def test_a_malformed_database_url_is_one_clear_line_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ebr", "db", "current"],
        env={"EBR_DATABASE_URL": "not a url", "EBR_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "EBR_DATABASE_URL='not a url' is not a database URL" in result.stderr


def test_an_unreachable_database_is_reported_not_crashed(tmp_path: Path) -> None:
    env = {"EBR_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none", "EBR_DATA_DIR": str(tmp_path)}
    code, out = run(["db", "upgrade"], env)
    assert code == 2
    assert "cannot reach the database" in out


def test_help_lists_every_command() -> None:
    code, out = run(["--help"], {})
    assert code == 0
    for name in ("init", "db", "audit", "user", "recipe", "plant", "serve"):
        assert f"  {name}" in out
