"""PostgreSQL role separation (issue 16 §6): migrations as the owner, the system as an application role.

Runs on the real PostgreSQL server: ``ebr db roles`` on an empty database, ``ebr db
upgrade`` as the owner, then a whole shop (people, plant, lots, recipes, a batch) as
the application role, which cannot disable the audit triggers, rewrite or delete
audit rows, or truncate tables. In production the system refuses the owner and a
superuser, naming the fix.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from ebr.app import create_app
from ebr.bootstrap import Services, build_services
from ebr.cli import main
from ebr.core.config import Settings, load_settings
from ebr.core.errors import DatabaseError
from ebr.ops.health import role_check
from ebr.ops.records import verify_records
from ebr.trail.services import ensure_system_key, verify_live
from tests.integration.records.shop import make_shop
from tests.support.databases import PostgresDatabases

PLANT = Path(__file__).resolve().parents[3] / "equipment" / "examples" / "plant.yaml"


@dataclass
class Roles:
    admin_url: str
    owner: str
    app: str

    def url(self, role: str) -> str:
        return make_url(self.admin_url).set(username=role, password=None).render_as_string(hide_password=False)

    def settings(self, tmp: Path, role: str, **env: str) -> Settings:
        values = {"EBR_DATA_DIR": str(tmp / "data"), "EBR_ENVIRONMENT": "production", **env}
        return load_settings(values, database_url=self.url(role), testing=True, secure_cookies=False)


@pytest.fixture
def roles(postgres_databases: PostgresDatabases) -> Iterator[Roles]:
    suffix = secrets.token_hex(4)
    name = postgres_databases.create("ebr_roles")
    made = Roles(postgres_databases.url_for(name), f"ebr_owner_{suffix}", f"ebr_app_{suffix}")
    yield made
    engine = create_engine(made.admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        for role in (made.owner, made.app):
            if connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first():
                connection.execute(text(f'REASSIGN OWNED BY "{role}" TO CURRENT_USER'))
                connection.execute(text(f'DROP OWNED BY "{role}"'))
    engine.dispose()
    postgres_databases.drop(name)
    with postgres_databases.admin.connect() as connection:
        for role in (made.owner, made.app):
            connection.execute(text(f'DROP ROLE IF EXISTS "{role}"'))


def _cli(services: Services, *args: str) -> str:
    result = CliRunner().invoke(main, list(args), obj=services)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def installed(roles: Roles, tmp_path: Path) -> Iterator[Services]:
    """``ebr db roles`` as the superuser, ``ebr db upgrade`` as the owner; the services run as the application role."""
    admin = build_services(roles.settings(tmp_path, "postgres"))
    try:
        admin_url = make_url(roles.admin_url).render_as_string(hide_password=False)
        out = _cli(admin, "db", "roles", "--admin-url", admin_url, "--owner", roles.owner, "--app", roles.app)
        assert f"now set EBR_DATABASE_URL to {roles.app!r}" in out
    finally:
        admin.close()
    services = build_services(roles.settings(tmp_path, roles.app, EBR_MIGRATION_DATABASE_URL=roles.url(roles.owner)))
    out = _cli(services, "db", "upgrade")
    assert f"migrated as {roles.owner!r}" in out
    yield services
    services.close()


@pytest.mark.requirement("URS-AUD-031")
def test_the_system_runs_end_to_end_as_the_application_role_after_migrating_as_the_owner(
    installed: Services, roles: Roles
) -> None:
    with installed.engine.connect() as connection:
        owners = set(
            connection.execute(text("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")).scalars()
        )
        assert owners == {roles.owner}
    create_app(services=installed)  # production start-up accepts the application role
    with installed.session_factory() as session:
        assert role_check(session, installed.clock.now())["ok"] is True
    ensure_system_key(installed)
    shop = make_shop(installed)
    assert shop.batch
    assert verify_records(installed, actor="system:test").ok
    assert verify_live(installed).ok


REFUSED = (
    ("ALTER TABLE audit_event DISABLE TRIGGER USER", "must be owner of (table|relation) audit_event"),
    ("ALTER TABLE audit_event DISABLE TRIGGER ALL", "must be owner of (table|relation) audit_event"),
    ("DROP TRIGGER audit_event_append_only ON audit_event", "must be owner of (table|relation) audit_event"),
    ("UPDATE audit_event SET actor = 'someone else'", "permission denied for table audit_event"),
    ("DELETE FROM audit_event", "permission denied for table audit_event"),
    ("TRUNCATE audit_event", "permission denied for table audit_event"),
    ("TRUNCATE batch", "permission denied for table batch"),
    ("DELETE FROM audit_checkpoint", "permission denied for table audit_checkpoint"),
    ("SET session_replication_role = replica", "permission denied to set parameter"),
    ("CREATE TABLE intruder (id int)", "permission denied for schema public"),
    ("CREATE TEMP TABLE intruder (id int)", "permission denied to create temporary tables"),
    ("ALTER FUNCTION audit_refuse_change() OWNER TO CURRENT_USER", "must be owner of function"),
)


@pytest.mark.requirement("URS-AUD-031", "URS-AUD-002")
def test_the_application_role_cannot_touch_the_audit_trail_or_its_protection(installed: Services) -> None:
    ensure_system_key(installed)
    verify_records(installed, actor="system:test")  # the application role appends audit events
    for statement, refusal in REFUSED:
        with installed.engine.connect() as connection, pytest.raises(ProgrammingError, match=refusal):
            connection.execute(text(statement))
    with installed.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM audit_event")).scalar_one() >= 1


@pytest.mark.requirement("URS-AUD-031")
def test_in_production_the_owner_and_a_superuser_are_refused_with_the_fix(
    installed: Services, roles: Roles, tmp_path: Path
) -> None:
    for role, why in ((roles.owner, "owns the tables"), ("postgres", "a superuser")):
        services = build_services(roles.settings(tmp_path, role))
        try:
            with pytest.raises(DatabaseError, match=f"refusing to start in production: .*{why}.*ebr db roles"):
                create_app(services=services)
            for command in (["scheduler"], ["runtime", "--config", str(PLANT)]):
                result = CliRunner().invoke(main, command, obj=services)
                assert result.exit_code == 2, result.output
                assert "refusing to start in production" in result.output
            with services.session_factory() as session:
                check = role_check(session, services.clock.now())
            assert check["ok"] is False
            assert "EBR_DATABASE_URL to the application role" in check["detail"]
        finally:
            services.close()
    development = build_services(roles.settings(tmp_path, roles.owner, EBR_ENVIRONMENT="development"))
    try:
        create_app(services=development)  # only reported (healthz) outside production
    finally:
        development.close()
