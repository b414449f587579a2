"""``ebr user …`` and the first administrator made by ``ebr init``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from ebr.cli import main

ONE_TIME = re.compile(r"one-time password(?: for '\w+')?: (\S+)")


def run(args: list[str], env: dict[str, str], stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, args, env=env, input=stdin, catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"EBR_DATABASE_URL": database_url, "EBR_DATA_DIR": str(tmp_path / "data"), "EBR_ADMIN_PASSWORD": ""}


@pytest.mark.requirement("URS-SEC-001")
def test_add_list_disable_and_an_id_is_never_reused(env: dict[str, str]) -> None:
    code, out = run(["user", "add", "olga", "--name", "Olga Operator", "--role", "operator"], env)
    assert code == 0, out
    assert ONE_TIME.search(out)
    code, out = run(["user", "disable", "olga", "--reason", "left the company"], env)
    assert code == 0, out
    code, out = run(["user", "list"], env)
    assert re.search(r"olga\s+Olga Operator\s+local\s+disabled\s+unchecked\s+operator", out), out
    code, out = run(["user", "add", "olga", "--name", "Olga Other", "--role", "qa"], env)
    assert code == 2
    assert "never reused" in out


@pytest.mark.requirement("URS-SEC-003")
def test_a_password_from_stdin_must_follow_the_policy(env: dict[str, str]) -> None:
    code, out = run(["user", "add", "qa1", "--name", "Quinn QA", "--role", "qa", "--password-stdin"], env, "short\n")
    assert code == 2
    assert "at least 12" in out
    code, out = run(
        ["user", "add", "qa1", "--name", "Quinn QA", "--role", "qa", "--password-stdin"], env, "Quality-First-2026\n"
    )
    assert code == 0, out
    assert "one-time" not in out


@pytest.mark.requirement("URS-SEC-004")
def test_unlock_needs_a_reason_and_a_locked_user(env: dict[str, str]) -> None:
    run(["user", "add", "olga", "--name", "Olga Operator", "--role", "operator"], env)
    code, out = run(["user", "unlock", "olga"], env)
    assert code == 2
    assert "--reason" in out
    code, out = run(["user", "unlock", "olga", "--reason", "x"], env)
    assert code == 2
    assert "not locked" in out


@pytest.mark.requirement("URS-SEC-003")
def test_reset_password_prints_a_one_time_password_that_must_be_changed(env: dict[str, str]) -> None:
    run(["user", "add", "olga", "--name", "Olga Operator", "--role", "operator"], env)
    code, out = run(["user", "reset-password", "olga", "--reason", "forgotten"], env)
    assert code == 0, out
    assert ONE_TIME.search(out)
    code, out = run(["user", "list"], env)
    assert "active*" in out


@pytest.mark.requirement("URS-SEC-001")
def test_init_creates_the_first_admin_once(env: dict[str, str]) -> None:
    code, out = run(["init"], env)
    assert code == 0, out
    assert "first administrator 'admin' created; one-time password:" in out
    code, out = run(["init"], env)
    assert code == 0, out
    assert "first administrator" not in out
    code, out = run(["user", "list"], env)
    assert re.search(r"admin\s+Administrator\s+local\s+active\*\s+verified\s+admin", out), out


@pytest.mark.requirement("URS-SEC-001")
def test_init_uses_the_installers_admin_password(env: dict[str, str]) -> None:
    code, out = run(["init"], {**env, "EBR_ADMIN_PASSWORD": "Install-Time-Pass-1"})
    assert code == 0, out
    assert "password from EBR_ADMIN_PASSWORD" in out


@pytest.mark.requirement("URS-SIG-008")
def test_verify_identity_from_the_command_line(env: dict[str, str]) -> None:
    code, out = run(["user", "add", "olga", "--name", "Olga Operator", "--role", "operator"], env)
    assert "identity not yet verified" in out
    code, out = run(["user", "verify-identity", "olga", "--how", "passport checked by J. Admin"], env)
    assert code == 0, out
    assert "recorded as verified" in out
    code, out = run(
        ["user", "add", "vera", "--name", "Vera V", "--role", "supervisor", "--identity-checked", "badge seen"], env
    )
    assert code == 0, out
    assert "not yet verified" not in out
