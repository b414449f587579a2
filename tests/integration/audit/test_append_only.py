"""The database itself refuses to rewrite the audit tables."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ebr.bootstrap import Services
from tests.integration.audit.conftest import Append

pytestmark = pytest.mark.requirement("URS-AUD-002")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_event SET actor = 'mallory' WHERE seq = 1",
        "DELETE FROM audit_event WHERE seq = 6",
        "DELETE FROM audit_event",
        "UPDATE audit_checkpoint SET seq = 4",
        "DELETE FROM audit_checkpoint",
    ],
)
def test_update_and_delete_on_audit_tables_are_refused(audited: Services, append: Append, statement: str) -> None:
    append(6)
    with pytest.raises(DBAPIError, match="append-only"), audited.engine.begin() as conn:
        conn.execute(text(statement))
    with audited.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_event")).scalar_one() == 6
        assert conn.execute(text("SELECT actor FROM audit_event WHERE seq = 1")).scalar_one() == "alice"


@pytest.mark.parametrize("backend", ["postgresql"])
@pytest.mark.parametrize("table", ["audit_event", "audit_checkpoint"])
def test_truncate_is_refused_on_postgresql(audited: Services, append: Append, table: str) -> None:
    append(6)
    with pytest.raises(DBAPIError, match="append-only"), audited.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {table}"))
    with audited.engine.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {table}"))  # noqa: S608 - table names are the test's constants.scalar_one() > 0
