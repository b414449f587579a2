"""``ebr user …`` and the first administrator made by ``ebr init``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from audit.chain import Entity
from ebr.bootstrap import Services, build_services
from ebr.cli import main
from ebr.core.config import load_settings

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


def _services(env: dict[str, str]) -> Services:
    settings = load_settings({"EBR_DATA_DIR": env["EBR_DATA_DIR"]}, database_url=env["EBR_DATABASE_URL"])
    return build_services(settings)


@pytest.mark.requirement("URS-SEC-003")
def test_a_new_user_changes_the_one_time_password_from_the_cli_and_can_then_sign(env: dict[str, str]) -> None:
    code, out = run(["user", "add", "olga", "--name", "Olga Operator", "--role", "operator"], env)
    found = ONE_TIME.search(out)
    assert found, out
    one_time = found.group(1)
    code, out = run(["user", "password", "olga", "--password-stdin"], env, "not-the-one-time\nNew-Strong-Pass-1\n")
    assert code == 2
    assert "user id or password is not accepted" in out
    code, out = run(["user", "password", "olga", "--password-stdin"], env, f"{one_time}\nshort\n")
    assert code == 2
    assert "at least 12" in out
    code, out = run(["user", "password", "olga", "--password-stdin"], env, f"{one_time}\nNew-Strong-Pass-1\n")
    assert (code, out.strip()) == (0, "password of 'olga' changed; a new signing key was made")
    svc = _services(env)
    try:
        with svc.session_factory.begin() as session:
            user = svc.users.authenticate(session, "olga", "New-Strong-Pass-1")
            svc.users.verify_identity(session, actor="root", user_id="olga", how="badge seen")
            svc.users.accept_accountability(session, user_id="olga")
        assert not user.must_change_password
        with svc.session_factory.begin() as session:
            signed = svc.signing.sign(
                session,
                subject=Entity("batch_step", "B-1/1"),
                content={"v": "1"},
                meaning="performed",
                reason=None,
                user_id="olga",
                password="New-Strong-Pass-1",
            )
        assert signed.signer == "olga"
    finally:
        svc.close()


@pytest.mark.requirement("URS-SEC-003")
def test_the_password_is_prompted_hidden_with_a_confirmation(env: dict[str, str]) -> None:
    run(["user", "add", "qa1", "--name", "Quinn QA", "--role", "qa", "--password-stdin"], env, "Quality-First-2026\n")
    code, out = run(["user", "password", "qa1"], env, "Quality-First-2026\nSecond-Quality-27\nSecond-Quality-27\n")
    assert code == 0, out
    assert "Second-Quality-27" not in out  # typed at a hidden prompt, never echoed
    code, out = run(["user", "password", "qa1"], env, "Second-Quality-27\nThird-Quality-28\nThird-Quality-99\n")
    assert code != 0
