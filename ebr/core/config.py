"""Configuration from environment variables, validated once at start-up.

Every setting has a documented variable (see ``docs/configuration.md``). A bad
value raises :class:`ebr.core.errors.ConfigError` naming the variable, what was wrong
and an example of a good value.
"""

from __future__ import annotations

import os
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ebr.core.errors import ConfigError

DEFAULT_SQLITE_FILE = Path("var") / "ebr.sqlite"


@dataclass(frozen=True, kw_only=True)
class Settings:
    """All settings of one installation. Build with :func:`load_settings`."""

    database_url: str
    secret_key: str
    data_dir: Path
    checkpoint_log_dir: Path
    checkpoint_every: int = 1000
    plant_timezone: str = "UTC"
    plant_locale: str = "en"
    session_idle_minutes: int = 15
    lockout_attempts: int = 5
    password_min_length: int = 12
    password_history: int = 5
    password_max_age_days: int = 90
    ldap_url: str | None = None
    ldap_user_base: str | None = None
    ldap_user_filter: str = "(uid={username})"
    ldap_group_base: str | None = None
    ldap_role_map: Mapping[str, str] = field(default_factory=dict)
    ldap_start_tls: bool = False
    ldap_ca_file: str | None = None
    ldap_bind_dn: str | None = None
    ldap_bind_password: str | None = field(default=None, repr=False)  # never logged
    ldap_user_dn_template: str | None = None
    ldap_group_mode: str = "search"
    login_limit_per_client: str = "30/600"
    login_limit_per_account: str = "10/600"
    proxy_hops: int = 0
    role_grant_confirmation: bool = False
    alert_webhook_url: str | None = None
    trend_retention_days: int = 90
    alert_smtp_url: str | None = None
    alert_email_to: tuple[str, ...] = ()
    alert_email_from: str = "ebr@localhost"
    equipment_config: Path | None = None
    performance_file: Path | None = None  # shifts, stop threshold, reason trees (None: data_dir/performance.yaml)
    input_max_bytes: int = 16 * 1024 * 1024
    input_max_nodes: int = 500_000
    secure_cookies: bool = True
    # "production" makes the web app, runtime and scheduler refuse a PostgreSQL role that
    # owns the tables or is a superuser (ebr.ops.roles); "development" only reports it.
    environment: str = "development"
    # The owner role's URL for `ebr db upgrade` (PostgreSQL role separation); None: EBR_DATABASE_URL.
    migration_database_url: str | None = None
    testing: bool = False
    tsa_url: str | None = None  # RFC 3161 time stamps of signed tree heads (optional)
    tsa_cert: Path | None = None  # the TSA's CA certificate (PEM), to verify them

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def exports_dir(self) -> Path:
        return self.data_dir / "exports"

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number; set it like {name}={default}") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}")
    return value


SMTP_SCHEMES = ("smtp", "smtp+starttls", "smtps")


def _alert_email(env: Mapping[str, str]) -> dict[str, Any]:
    """EBR_ALERT_SMTP_URL with EBR_ALERT_EMAIL_TO (and _FROM): alerts by e-mail, checked here."""
    url = env.get("EBR_ALERT_SMTP_URL") or None
    to = tuple(a.strip() for a in (env.get("EBR_ALERT_EMAIL_TO") or "").split(",") if a.strip())
    sender = (env.get("EBR_ALERT_EMAIL_FROM") or "ebr@localhost").strip()
    if url is None:
        if to:
            raise ConfigError("EBR_ALERT_EMAIL_TO is set but EBR_ALERT_SMTP_URL is not: set the mail relay too")
        return {}
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in SMTP_SCHEMES or not url.split("://", 1)[1].strip("/"):
        raise ConfigError(
            f"EBR_ALERT_SMTP_URL={url.split('@')[-1]!r} must look like smtp://relay:25, "
            "smtp+starttls://user:password@relay:587 or smtps://user:password@relay:465"
        )
    if not to:
        raise ConfigError("EBR_ALERT_SMTP_URL is set but EBR_ALERT_EMAIL_TO is empty: name who receives the alerts")
    for address in (*to, sender):
        if "@" not in address:
            raise ConfigError(f"{address!r} is not an e-mail address (EBR_ALERT_EMAIL_TO / EBR_ALERT_EMAIL_FROM)")
    return {"alert_smtp_url": url, "alert_email_to": to, "alert_email_from": sender}


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}={raw!r} is not a yes/no value; use true or false")


def _database_url(env: Mapping[str, str], data_dir: Path) -> str:
    raw = env.get("EBR_DATABASE_URL")
    if not raw:
        return f"sqlite:///{(Path.cwd() / DEFAULT_SQLITE_FILE).as_posix()}"
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError(
            f"EBR_DATABASE_URL={raw!r} is not a database URL; use e.g. "
            "sqlite:///var/ebr.sqlite or postgresql+psycopg://user@host:5432/ebr"
        ) from None
    if url.get_backend_name() not in {"sqlite", "postgresql"}:
        raise ConfigError(f"EBR_DATABASE_URL uses {url.get_backend_name()!r}; only sqlite and postgresql are supported")
    if url.get_backend_name() == "postgresql" and url.get_driver_name() != "psycopg":
        raise ConfigError(
            f"EBR_DATABASE_URL driver {url.get_driver_name()!r} is not supported; use postgresql+psycopg://"
        )
    return raw


ENVIRONMENTS = ("production", "development")


def _environment(env: Mapping[str, str]) -> str:
    raw = (env.get("EBR_ENVIRONMENT") or "development").strip().lower()
    if raw not in ENVIRONMENTS:
        raise ConfigError(f"EBR_ENVIRONMENT={raw!r} must be production or development")
    return raw


def _migration_url(env: Mapping[str, str], data_dir: Path) -> str | None:
    raw = env.get("EBR_MIGRATION_DATABASE_URL")
    if not raw:
        return None
    checked = _database_url({"EBR_DATABASE_URL": raw}, data_dir)
    if make_url(checked).get_backend_name() != "postgresql":
        raise ConfigError("EBR_MIGRATION_DATABASE_URL is for PostgreSQL (the owner role); leave it unset on SQLite")
    return checked


def _role_map(raw: str | None) -> dict[str, str]:
    """``EBR_LDAP_ROLE_MAP="cn=qa,ou=groups,dc=x=qa;cn=ops,...=operator"`` (last ``=`` splits)."""
    if not raw:
        return {}
    mapping: dict[str, str] = {}
    for part in raw.split(";"):
        if not part.strip():
            continue
        group, sep, role = part.rpartition("=")
        if not sep or not group:
            raise ConfigError(f"EBR_LDAP_ROLE_MAP entry {part!r} must look like GROUP_DN=role")
        mapping[group.strip()] = role.strip()
    return mapping


LDAP_GROUP_MODES = ("search", "memberof", "in_chain")


def _ldap_service_account(env: Mapping[str, str]) -> dict[str, Any]:
    """EBR_LDAP_BIND_DN with its password from EBR_LDAP_BIND_PASSWORD_FILE or EBR_LDAP_BIND_PASSWORD."""
    dn = env.get("EBR_LDAP_BIND_DN") or None
    path, value = env.get("EBR_LDAP_BIND_PASSWORD_FILE") or None, env.get("EBR_LDAP_BIND_PASSWORD") or None
    if path and value:
        raise ConfigError("set EBR_LDAP_BIND_PASSWORD_FILE or EBR_LDAP_BIND_PASSWORD, not both")
    password = value
    if path:
        try:
            password = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(
                f"EBR_LDAP_BIND_PASSWORD_FILE={path!r} cannot be read ({exc.strerror}); "
                "give a file readable by the EBR user (mode 0600)"
            ) from None
    if dn and not password:
        raise ConfigError(
            "EBR_LDAP_BIND_DN is set but no password: set EBR_LDAP_BIND_PASSWORD_FILE=/etc/ebr/ldap-bind-password"
        )
    if password and not dn:
        raise ConfigError("an LDAP bind password is set but EBR_LDAP_BIND_DN is not: name the service account")
    template = env.get("EBR_LDAP_USER_DN_TEMPLATE") or None
    if template and "{username}" not in template:
        raise ConfigError(
            f"EBR_LDAP_USER_DN_TEMPLATE={template!r} must contain {{username}}, e.g. uid={{username}},ou=people,dc=x"
        )
    mode = (env.get("EBR_LDAP_GROUP_MODE") or "search").strip().lower()
    if mode not in LDAP_GROUP_MODES:
        raise ConfigError(f"EBR_LDAP_GROUP_MODE={mode!r} must be one of: {', '.join(LDAP_GROUP_MODES)}")
    return {
        "ldap_bind_dn": dn,
        "ldap_bind_password": password,
        "ldap_user_dn_template": template,
        "ldap_group_mode": mode,
    }


def _limit(env: Mapping[str, str], name: str, default: str) -> str:
    raw = (env.get(name) or default).strip().lower()
    attempts, sep, seconds = raw.partition("/")
    if raw in {"off", "0"} or (sep and attempts.isdigit() and seconds.isdigit() and int(attempts) and int(seconds)):
        return raw
    raise ConfigError(f"{name}={raw!r} must be FAILURES/SECONDS like {name}={default}, or off")


def _locale(name: str) -> str:
    """A locale Babel knows (e.g. ``de_DE``: numbers typed with a decimal comma)."""
    from babel import Locale, UnknownLocaleError

    try:
        Locale.parse(name)
    except (UnknownLocaleError, ValueError):
        raise ConfigError(f"EBR_PLANT_LOCALE={name!r} is not a known locale; use e.g. en, de_DE or fr_FR") from None
    return name


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Read settings from ``env`` (default ``os.environ``); raise ConfigError on a bad value."""
    env = os.environ if env is None else env
    data_dir = Path(env.get("EBR_DATA_DIR") or Path.cwd() / "var").resolve()
    tz = env.get("EBR_PLANT_TIMEZONE") or "UTC"
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"EBR_PLANT_TIMEZONE={tz!r} is not a known time zone; use e.g. Europe/Berlin") from None
    locale = _locale(env.get("EBR_PLANT_LOCALE") or "en")
    equipment = env.get("EBR_EQUIPMENT_CONFIG")
    settings = Settings(
        database_url=_database_url(env, data_dir),
        secret_key=env.get("EBR_SECRET_KEY") or "",
        data_dir=data_dir,
        checkpoint_log_dir=Path(env.get("EBR_CHECKPOINT_LOG_DIR") or data_dir / "checkpoints").resolve(),
        checkpoint_every=_int(env, "EBR_CHECKPOINT_EVERY", 1000, minimum=1),
        plant_timezone=tz,
        plant_locale=locale,
        session_idle_minutes=_int(env, "EBR_SESSION_IDLE_MINUTES", 15, minimum=1),
        lockout_attempts=_int(env, "EBR_LOCKOUT_ATTEMPTS", 5, minimum=1),
        password_min_length=_int(env, "EBR_PASSWORD_MIN_LENGTH", 12, minimum=8),
        password_history=_int(env, "EBR_PASSWORD_HISTORY", 5),
        password_max_age_days=_int(env, "EBR_PASSWORD_MAX_AGE_DAYS", 90, minimum=1),
        ldap_url=env.get("EBR_LDAP_URL") or None,
        ldap_user_base=env.get("EBR_LDAP_USER_BASE") or None,
        ldap_user_filter=env.get("EBR_LDAP_USER_FILTER") or "(uid={username})",
        ldap_group_base=env.get("EBR_LDAP_GROUP_BASE") or None,
        ldap_role_map=_role_map(env.get("EBR_LDAP_ROLE_MAP")),
        ldap_start_tls=_bool(env, "EBR_LDAP_START_TLS", False),
        ldap_ca_file=env.get("EBR_LDAP_CA_FILE") or None,
        **_ldap_service_account(env),
        login_limit_per_client=_limit(env, "EBR_LOGIN_LIMIT_PER_CLIENT", "30/600"),
        login_limit_per_account=_limit(env, "EBR_LOGIN_LIMIT_PER_ACCOUNT", "10/600"),
        proxy_hops=_int(env, "EBR_PROXY_HOPS", 0),
        role_grant_confirmation=_bool(env, "EBR_ROLE_GRANT_CONFIRMATION", False),
        alert_webhook_url=env.get("EBR_ALERT_WEBHOOK_URL") or None,
        trend_retention_days=_int(env, "EBR_TREND_RETENTION_DAYS", 90, minimum=1),
        **_alert_email(env),
        equipment_config=Path(equipment) if equipment else None,
        performance_file=Path(env["EBR_PERFORMANCE_FILE"]) if env.get("EBR_PERFORMANCE_FILE") else None,
        input_max_bytes=_int(env, "EBR_INPUT_MAX_BYTES", 16 * 1024 * 1024, minimum=1024),
        input_max_nodes=_int(env, "EBR_INPUT_MAX_NODES", 500_000, minimum=100),
        secure_cookies=_bool(env, "EBR_SECURE_COOKIES", True),
        environment=_environment(env),
        migration_database_url=_migration_url(env, data_dir),
        tsa_url=env.get("EBR_TSA_URL") or None,
        tsa_cert=Path(env["EBR_TSA_CERT"]) if env.get("EBR_TSA_CERT") else None,
    )
    return settings.with_overrides(**overrides) if overrides else settings
