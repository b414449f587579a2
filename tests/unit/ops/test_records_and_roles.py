"""Pure parts of reconciliation and role separation: images, grants, role names, the new settings."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ebr.core.config import load_settings
from ebr.core.errors import ConfigError
from ebr.ops.images import EXCLUDED, gmp_tables, image_value
from ebr.ops.roles import _name as role_name
from ebr.ops.roles import create_roles, table_grants

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.decimals(allow_nan=False, allow_infinity=False, places=3),
    st.datetimes(timezones=st.just(dt.UTC)),
    st.dates(),
    st.text(max_size=300),
    st.binary(max_size=64),
)


@given(value=SCALARS)
def test_every_column_value_has_a_json_image_that_is_stable(value: object) -> None:
    image = image_value("lot", "quantity", value)
    assert json.loads(json.dumps(image)) == image
    assert image_value("lot", "quantity", value) == image


@given(a=st.decimals(allow_nan=False, allow_infinity=False), b=st.decimals(allow_nan=False, allow_infinity=False))
def test_two_quantities_have_the_same_image_only_when_they_read_the_same(a: Decimal, b: Decimal) -> None:
    same_text = format(a, "f") == format(b, "f")
    assert (image_value("lot", "quantity", a) == image_value("lot", "quantity", b)) == same_text


@given(secret=st.text(min_size=1, max_size=100))
def test_a_password_hash_never_appears_in_an_image(secret: str) -> None:
    image = image_value("user_account", "password_hash", secret)
    assert image == "sha256:" + hashlib.sha256(secret.encode("utf-8")).hexdigest()


def test_long_texts_and_documents_are_imaged_by_their_digest() -> None:
    assert image_value("recipe_version", "content", "x" * 121).startswith("sha256:")
    assert image_value("recipe_version", "title", "x" * 120) == "x" * 120
    assert image_value("batch", "control_recipe", {"a": ["1"]}).startswith("sha256:")


def test_every_table_is_either_reconciled_or_excluded_with_a_reason() -> None:
    from ebr.core.db import Base
    from ebr.tables import load_all_models

    load_all_models()
    names = {t.name for t in Base.metadata.sorted_tables}
    covered = {t.name for t in gmp_tables()}
    audit = {n for n in names if n.startswith("audit_")}
    assert {"audit_event", "audit_checkpoint", "audit_system_key"} <= audit
    assert covered | set(EXCLUDED) | audit == names
    assert not covered & (set(EXCLUDED) | audit)
    assert all(len(reason) > 20 for reason in EXCLUDED.values())


@pytest.mark.requirement("URS-AUD-031")
def test_the_application_role_may_only_append_to_audit_tables() -> None:
    assert table_grants("audit_event") == "SELECT, INSERT"
    assert table_grants("audit_checkpoint") == "SELECT, INSERT"
    assert table_grants("audit_system_key") == "SELECT, INSERT, UPDATE"
    assert table_grants("alembic_version") == "SELECT"
    assert table_grants("batch") == "SELECT, INSERT, UPDATE, DELETE"
    assert all("TRUNCATE" not in table_grants(t) for t in ("audit_event", "batch", "user_account"))


@given(name=st.text(max_size=70))
def test_a_role_name_is_used_only_when_it_is_a_plain_identifier(name: str) -> None:
    if re.fullmatch(r"[a-z_][a-z0-9_]*", name) and len(name) <= 63:
        assert role_name(name, "owner role") == name
    else:
        with pytest.raises(ConfigError, match=r"owner role .*a PostgreSQL role name"):
            role_name(name, "owner role")


def test_roles_need_two_different_names_and_postgresql() -> None:
    from ebr.core.db import make_engine

    engine = make_engine("sqlite://")
    try:
        with pytest.raises(ConfigError, match="two different roles"):
            create_roles(engine, owner="ebr", app="ebr")
        with pytest.raises(Exception, match="PostgreSQL only"):
            create_roles(engine, owner="ebr_owner", app="ebr_app")
    finally:
        engine.dispose()


@pytest.mark.requirement("URS-SYS-004")
@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"EBR_ENVIRONMENT": "prod"}, "EBR_ENVIRONMENT='prod' must be production or development"),
        ({"EBR_MIGRATION_DATABASE_URL": "sqlite:///x.sqlite"}, "EBR_MIGRATION_DATABASE_URL is for PostgreSQL"),
        ({"EBR_MIGRATION_DATABASE_URL": "not a url"}, "is not a database URL"),
    ],
)
def test_a_bad_role_setting_names_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(env)


def test_production_and_the_owner_url_are_read() -> None:
    url = "postgresql+psycopg://ebr_owner@db/ebr"
    settings = load_settings({"EBR_ENVIRONMENT": "Production", "EBR_MIGRATION_DATABASE_URL": url})
    assert settings.production
    assert settings.migration_database_url == url
    assert not load_settings({}).production
