"""Configuration from the environment: defaults and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ebr.core.config import load_settings
from ebr.core.db import make_engine
from ebr.core.errors import ConfigError


def test_defaults_use_a_sqlite_file_under_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings({})
    assert settings.database_url == f"sqlite:///{tmp_path}/var/ebr.sqlite"
    assert settings.data_dir == tmp_path / "var"
    assert settings.keys_dir == tmp_path / "var" / "keys"


def test_a_plain_postgresql_url_is_routed_through_psycopg3() -> None:
    settings = load_settings({"EBR_DATABASE_URL": "postgresql://postgres@127.0.0.1/ebr"})
    engine = make_engine(settings.database_url)
    assert engine.dialect.driver == "psycopg"
    engine.dispose()


def test_another_postgresql_driver_is_refused() -> None:
    with pytest.raises(ConfigError, match="use postgresql\\+psycopg"):
        load_settings({"EBR_DATABASE_URL": "postgresql+pg8000://postgres@127.0.0.1/ebr"})


@pytest.mark.requirement("URS-SYS-004")
@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"EBR_DATABASE_URL": "not a url"}, "EBR_DATABASE_URL='not a url' is not a database URL"),
        ({"EBR_DATABASE_URL": "mysql://x@y/z"}, "only sqlite and postgresql"),
        ({"EBR_CHECKPOINT_EVERY": "often"}, "EBR_CHECKPOINT_EVERY='often' is not a whole number"),
        ({"EBR_CHECKPOINT_EVERY": "0"}, "must be at least 1"),
        ({"EBR_PLANT_TIMEZONE": "Mars/Olympus"}, "not a known time zone"),
        ({"EBR_SECURE_COOKIES": "perhaps"}, "not a yes/no value"),
        ({"EBR_LDAP_ROLE_MAP": "nonsense"}, "must look like GROUP_DN=role"),
        ({"EBR_ALERT_SMTP_URL": "mail.plant:25", "EBR_ALERT_EMAIL_TO": "qa@plant"}, "must look like smtp://relay:25"),
        ({"EBR_ALERT_SMTP_URL": "smtp://relay:25"}, "EBR_ALERT_EMAIL_TO is empty"),
        ({"EBR_ALERT_EMAIL_TO": "qa@plant"}, "EBR_ALERT_SMTP_URL is not"),
        ({"EBR_ALERT_SMTP_URL": "smtp://relay", "EBR_ALERT_EMAIL_TO": "qa"}, "'qa' is not an e-mail address"),
    ],
)
def test_a_bad_value_names_the_variable_and_the_fix(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings(env)


def test_ldap_role_map_splits_on_the_last_equals_sign() -> None:
    settings = load_settings({"EBR_LDAP_ROLE_MAP": "cn=qa,ou=groups,dc=plant=qa; cn=ops,dc=plant=operator"})
    assert settings.ldap_role_map == {"cn=qa,ou=groups,dc=plant": "qa", "cn=ops,dc=plant": "operator"}


def test_alert_mail_settings_are_read_and_a_bad_relay_url_never_echoes_its_password() -> None:
    settings = load_settings(
        {"EBR_ALERT_SMTP_URL": "smtp+starttls://ebr:s3cret@relay.plant:587", "EBR_ALERT_EMAIL_TO": "qa@plant, it@plant"}
    )
    assert settings.alert_email_to == ("qa@plant", "it@plant")
    assert settings.alert_email_from == "ebr@localhost"
    with pytest.raises(ConfigError) as refused:
        load_settings({"EBR_ALERT_SMTP_URL": "mail://ebr:s3cret@relay", "EBR_ALERT_EMAIL_TO": "qa@plant"})
    assert "s3cret" not in str(refused.value)
