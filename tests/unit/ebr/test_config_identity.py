"""Settings of issue 17: LDAP service account and DN template, group mode, login limits, proxies."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ebr.core.config import load_settings
from ebr.core.errors import ConfigError
from signatures.throttle import Limit


def test_the_service_account_password_comes_from_a_file_and_never_shows_in_the_settings(tmp_path: Path) -> None:
    secret = tmp_path / "bind-password"
    secret.write_text("S3rvice-Secret!\n")
    settings = load_settings(
        {"EBR_LDAP_BIND_DN": "cn=ebr,ou=services,dc=x", "EBR_LDAP_BIND_PASSWORD_FILE": str(secret)}
    )
    assert settings.ldap_bind_password == "S3rvice-Secret!"
    assert "S3rvice-Secret!" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"EBR_LDAP_BIND_DN": "cn=ebr,dc=x"}, "no password: set EBR_LDAP_BIND_PASSWORD_FILE"),
        ({"EBR_LDAP_BIND_PASSWORD": "x"}, "EBR_LDAP_BIND_DN is not"),
        ({"EBR_LDAP_BIND_DN": "cn=a", "EBR_LDAP_BIND_PASSWORD": "x", "EBR_LDAP_BIND_PASSWORD_FILE": "/f"}, "not both"),
        ({"EBR_LDAP_BIND_DN": "cn=a", "EBR_LDAP_BIND_PASSWORD_FILE": "/no/such/file"}, "cannot be read"),
        ({"EBR_LDAP_USER_DN_TEMPLATE": "uid=x,dc=x"}, "must contain {username}"),
        ({"EBR_LDAP_GROUP_MODE": "nested"}, "search, memberof, in_chain"),
        ({"EBR_LOGIN_LIMIT_PER_CLIENT": "20 per minute"}, "FAILURES/SECONDS like EBR_LOGIN_LIMIT_PER_CLIENT=30/600"),
        ({"EBR_LOGIN_LIMIT_PER_ACCOUNT": "0/60"}, "EBR_LOGIN_LIMIT_PER_ACCOUNT"),
        ({"EBR_PROXY_HOPS": "-1"}, "EBR_PROXY_HOPS=-1 must be at least 0"),
    ],
)
def test_a_bad_identity_setting_names_the_variable_and_the_fix(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("{", "\\{").replace("}", "\\}")):
        load_settings(env)


def test_limits_default_on_and_can_be_switched_off() -> None:
    settings = load_settings({})
    assert (settings.login_limit_per_client, settings.login_limit_per_account) == ("30/600", "10/600")
    off = load_settings({"EBR_LOGIN_LIMIT_PER_CLIENT": "off", "EBR_LOGIN_LIMIT_PER_ACCOUNT": "off"})
    assert not Limit.parse("x", off.login_limit_per_client).on


@given(st.integers(min_value=1, max_value=10**6), st.integers(min_value=1, max_value=10**7))
def test_every_limit_the_settings_accept_parses_to_the_same_numbers(attempts: int, seconds: int) -> None:
    raw = f"{attempts}/{seconds}"
    settings = load_settings({"EBR_LOGIN_LIMIT_PER_CLIENT": raw})
    assert Limit.parse("EBR_LOGIN_LIMIT_PER_CLIENT", settings.login_limit_per_client) == Limit(attempts, seconds)
    assert str(Limit(attempts, seconds)) == raw


@given(st.text(max_size=12))
def test_any_other_limit_text_is_refused_by_both_readers_with_the_variable_named(raw: str) -> None:
    text = raw.strip().lower()
    numbers = text.partition("/")
    valid = text in {"off", "0", "none"} or (
        numbers[1] == "/" and numbers[0].isdigit() and numbers[2].isdigit() and int(numbers[0]) and int(numbers[2])
    )
    if valid or not text:
        return
    with pytest.raises(ConfigError, match="EBR_LOGIN_LIMIT_PER_ACCOUNT"):
        Limit.parse("EBR_LOGIN_LIMIT_PER_ACCOUNT", raw)
    with pytest.raises(ConfigError, match="EBR_LOGIN_LIMIT_PER_ACCOUNT"):
        load_settings({"EBR_LOGIN_LIMIT_PER_ACCOUNT": raw})
