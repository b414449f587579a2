"""PostgreSQL role separation: an owner role for migrations, an application role for everything else.

The owner role owns every table, sequence and trigger function and is used only by
``ebr db upgrade`` (``EBR_MIGRATION_DATABASE_URL``). The application role (the web
app, ``ebr runtime``, ``ebr scheduler``: ``EBR_DATABASE_URL``) gets only what the
system needs:

* ``audit_*`` tables: SELECT and INSERT (``audit_system_key`` also UPDATE, to close
  a rotated key's validity); never UPDATE or DELETE of events or tree heads;
* every other table: SELECT, INSERT, UPDATE, DELETE;
* ``alembic_version``: SELECT (the schema check at start-up);
* sequences: USAGE and SELECT;
* never TRUNCATE, REFERENCES or TRIGGER, never ownership, never membership of the
  owner role: so it cannot ``ALTER TABLE audit_event DISABLE TRIGGER`` or drop the
  triggers that keep the trail append-only.

:func:`create_roles` is idempotent (run it again after every ``ebr db upgrade``);
:func:`role_problem` is what the web app, runtime and scheduler check at start.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from ebr import schema
from ebr.core.config import Settings
from ebr.core.db import make_engine
from ebr.core.errors import ConfigError, DatabaseError

IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
APPEND_ONLY_PREFIX = "audit_"
AUDIT_UPDATABLE = frozenset({"audit_system_key"})
READ_ONLY = frozenset({"alembic_version"})
FIX = (
    'create the two roles with `ebr db roles` (docs/operations.md, "Database roles"), then set '
    "EBR_DATABASE_URL to the application role and EBR_MIGRATION_DATABASE_URL to the owner role"
)


def _name(value: str, what: str) -> str:
    if not IDENTIFIER.fullmatch(value):
        raise ConfigError(f"{what} {value!r}: use lower-case letters, digits and _ (a PostgreSQL role name)")
    return value


def _literal(password: str) -> str:
    return "'" + password.replace("'", "''") + "'"


def role_problem(connection: Connection) -> str | None:
    """Why the current connection's role is unfit for the application (None: fit, or not PostgreSQL)."""
    if connection.dialect.name != "postgresql":
        return None
    me, superuser = connection.execute(
        text("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
    ).one()
    if superuser:
        return f"the application connects to PostgreSQL as {me!r}, a superuser; {FIX}"
    owners = connection.execute(
        text(
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = current_schema() "
            "AND pg_has_role(current_user, tableowner, 'MEMBER')"
        )
    ).scalars()
    owned = sorted(owners)
    if owned:
        return f"the application connects to PostgreSQL as {me!r}, which owns the tables (as {', '.join(owned)}); {FIX}"
    return None


def refuse_unfit_role(engine: Engine) -> None:
    """Raise DatabaseError when the engine's role owns the tables or is a superuser (production start-up)."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as connection:
        problem = role_problem(connection)
    if problem is not None:
        raise DatabaseError(f"refusing to start in production: {problem}")


def _ensure_role(connection: Connection, name: str, password: str | None) -> None:
    exists = connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name}).first()
    verb = "ALTER" if exists else "CREATE"
    options = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
    if password:
        options += f" PASSWORD {_literal(password)}"
    connection.execute(text(f'{verb} ROLE "{name}" {options}'))


def _objects(connection: Connection, kind: str) -> list[str]:
    queries = {
        "table": "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1",
        "sequence": "SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema() ORDER BY 1",
        "function": (
            "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = current_schema() AND p.prokind = 'f' "
            "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e') ORDER BY 1"
        ),
    }
    return list(connection.execute(text(queries[kind])).scalars())


def table_grants(table: str) -> str:
    """The privileges the application role holds on ``table``."""
    if table in READ_ONLY:
        return "SELECT"
    if table.startswith(APPEND_ONLY_PREFIX):
        return "SELECT, INSERT, UPDATE" if table in AUDIT_UPDATABLE else "SELECT, INSERT"
    return "SELECT, INSERT, UPDATE, DELETE"


def grant_app(connection: Connection, app: str) -> int:
    """Grant ``app`` exactly :func:`table_grants` on every table and use of every sequence; returns the tables.

    Run by :func:`create_roles` and, as the owner, after every ``ebr db upgrade`` so
    tables added by a migration are usable by the application at once.
    """
    app = _name(app, "application role")
    schema = connection.execute(text("SELECT current_schema()")).scalar_one()
    tables = _objects(connection, "table")
    for table in tables:
        connection.execute(text(f'REVOKE ALL ON "{schema}"."{table}" FROM "{app}", PUBLIC'))
        connection.execute(text(f'GRANT {table_grants(table)} ON "{schema}"."{table}" TO "{app}"'))
    for sequence in _objects(connection, "sequence"):
        connection.execute(text(f'GRANT USAGE, SELECT ON SEQUENCE "{schema}"."{sequence}" TO "{app}"'))
    return len(tables)


def create_roles(
    admin: Engine, *, owner: str, app: str, owner_password: str | None = None, app_password: str | None = None
) -> list[str]:
    """Create (or update) both roles on ``admin``'s database and set ownership and grants; returns what was done.

    ``admin`` must connect as a superuser or a role with CREATEROLE that can take over
    the current tables. Existing tables are handed to ``owner`` (from the former single role).
    """
    owner, app = _name(owner, "owner role"), _name(app, "application role")
    if owner == app:
        raise ConfigError("the owner and the application role must be two different roles")
    if admin.dialect.name != "postgresql":
        raise DatabaseError("database roles apply to PostgreSQL only; SQLite has no roles (use it for trials only)")
    done: list[str] = []
    with admin.begin() as connection:
        database = connection.execute(text("SELECT current_database()")).scalar_one()
        schema = connection.execute(text("SELECT current_schema()")).scalar_one()
        for name, password in ((owner, owner_password), (app, app_password)):
            _ensure_role(connection, name, password)
        connection.execute(text(f'REVOKE "{owner}" FROM "{app}"'))
        connection.execute(text(f'GRANT CONNECT, TEMPORARY ON DATABASE "{database}" TO "{owner}"'))
        connection.execute(text(f'GRANT CONNECT ON DATABASE "{database}" TO "{app}"'))
        connection.execute(text(f'REVOKE TEMPORARY ON DATABASE "{database}" FROM PUBLIC'))
        connection.execute(text(f'GRANT USAGE, CREATE ON SCHEMA "{schema}" TO "{owner}"'))
        connection.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO "{app}"'))
        connection.execute(text(f'REVOKE CREATE ON SCHEMA "{schema}" FROM "{app}", PUBLIC'))
        done.append(f"roles {owner!r} (owner, migrations) and {app!r} (application) present in database {database!r}")
        tables = _objects(connection, "table")
        for table in tables:
            connection.execute(text(f'ALTER TABLE "{schema}"."{table}" OWNER TO "{owner}"'))
        for sequence in _objects(connection, "sequence"):
            connection.execute(text(f'ALTER SEQUENCE "{schema}"."{sequence}" OWNER TO "{owner}"'))
        for function in _objects(connection, "function"):
            connection.execute(text(f'ALTER FUNCTION {function} OWNER TO "{owner}"'))
        grant_app(connection, app)
        done.append(
            f"{len(tables)} table(s) owned by {owner!r}; {app!r} granted only what it needs "
            "(SELECT and INSERT on the audit tables, no TRUNCATE, no ownership)"
        )
    return done


def guard_production(settings: Settings, engine: Engine) -> None:
    """At the start of the web app, runtime and scheduler: in production, refuse an unfit role.

    An unreachable database is not refused here (``/healthz`` answers 503 with the reason,
    and its ``database_role`` check reports the role as soon as the database answers).
    """
    if not settings.production:
        return
    try:
        refuse_unfit_role(engine)
    except OperationalError:
        return


def migrate(settings: Settings, engine: Engine, revision: str = "heads") -> Engine | None:
    """Upgrade the schema as the owner role when one is configured, then grant the application role.

    Without ``EBR_MIGRATION_DATABASE_URL`` the application's own engine migrates
    (SQLite, trials). Returns the owner's engine (disposed) or None.
    """
    if settings.migration_database_url is None:
        schema.upgrade(engine, revision)
        return None
    owner = make_engine(settings.migration_database_url)
    try:
        schema.upgrade(owner, revision)
        app = make_url(settings.database_url).username
        if app and app != make_url(settings.migration_database_url).username:
            with owner.begin() as connection:
                grant_app(connection, app)
    finally:
        owner.dispose()
    return owner
