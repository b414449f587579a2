"""A tree head at every batch release; a release over a trail that does not verify is refused."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from audit.checkpoints import TreeHeadRefused
from audit.models import AuditCheckpoint, AuditEvent
from ebr.bootstrap import Services
from ebr.trail.services import ensure_system_key
from tests.integration.audit.conftest import drop_append_only_triggers
from tests.integration.test_release import complete_batch, decide
from tests.integration.test_review_exceptions import dispose_all

__all__ = ["complete_batch"]  # the fixture, imported for pytest
pytestmark = pytest.mark.requirement("URS-AUD-021")


def _released_seq(services: Services, number: str) -> int | None:
    with services.session_factory() as session:
        query = select(AuditEvent.seq).where(AuditEvent.action == "batch.released", AuditEvent.entity_id == number)
        return session.scalar(query)


def test_a_release_signs_a_tree_head_over_the_trail_up_to_its_own_event(
    services: Services, complete_batch: str
) -> None:
    ensure_system_key(services)
    decide(services, complete_batch, "quinn", "reviewed")
    dispose_all(services, complete_batch)  # review by exception: each exception has QA's comment
    decide(services, complete_batch, "queenie", "released")
    released = _released_seq(services, complete_batch)
    assert released is not None
    with services.session_factory() as session:
        newest = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc())).first()
    assert newest is not None
    assert newest.root_hash is not None
    assert newest.seq == released, "the tree head covers the release event itself"


def test_a_release_over_a_trail_changed_behind_the_application_is_refused(
    services: Services, complete_batch: str
) -> None:
    ensure_system_key(services)
    decide(services, complete_batch, "quinn", "reviewed")
    dispose_all(services, complete_batch)
    with services.engine.begin() as conn:
        drop_append_only_triggers(conn)
        conn.execute(text("UPDATE audit_event SET canonical = canonical || CAST('x' AS BLOB) WHERE seq = 3")
                     if conn.dialect.name == "sqlite" else
                     text("UPDATE audit_event SET canonical = canonical || '\\x78'::bytea WHERE seq = 3"))  # fmt: skip
    with pytest.raises(TreeHeadRefused, match="run `ebr audit verify`"):
        decide(services, complete_batch, "queenie", "released")
    assert _released_seq(services, complete_batch) is None, "the release was not stored"
