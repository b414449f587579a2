"""Faults injected at the edge of a test: the audit trail refusing one kind of event."""

from __future__ import annotations

from typing import Any

import pytest

from ebr.bootstrap import Services
from ebr.core.errors import AuditError


def fail_audit_on(monkeypatch: pytest.MonkeyPatch, services: Services, action: str) -> None:
    """Make ``services.audit.record`` raise AuditError for ``action``; other events are recorded as usual."""
    record = services.audit.record

    def failing(session: Any, **kwargs: Any) -> Any:
        if kwargs.get("action") == action:
            raise AuditError("the audit trail is unavailable")
        return record(session, **kwargs)

    monkeypatch.setattr(services.audit, "record", failing)
